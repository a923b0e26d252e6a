"""caprobe-info against the session soft IOC, in cainfo's layout."""

from __future__ import annotations

import socket

from cli_helpers import run


def test_info_blocks(softioc_server):
    ioc = softioc_server
    result = run("info", ioc.pv("ai"), ioc.pv("ro"), ioc.pv("wf_char"), server=ioc)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    # cainfo shows the server's host name (reverse DNS), as libca's ca_host_name does
    address = f"{socket.gethostbyaddr('127.0.0.1')[0]}:{ioc.tcp_port or ioc.port}"
    block = [
        "{name}",
        "    State:            connected",
        f"    Host:             {address}",
        "    Access:           {access}",
        "    Native data type: {dbf}",
        "    Request type:     {dbr}",
        "    Element count:    {count}",
    ]
    expected = []
    for name, access, dbf, dbr, count in [
            ("ai", "read, write", "DBF_DOUBLE", "DBR_DOUBLE", 1),
            ("ro", "read, no write", "DBF_DOUBLE", "DBR_DOUBLE", 1),
            ("wf_char", "read, write", "DBF_CHAR", "DBR_CHAR", 256)]:
        expected += [line.format(name=ioc.pv(name), access=access, dbf=dbf, dbr=dbr,
                                 count=count) for line in block]
    assert result.stdout.splitlines() == expected


def test_info_types(softioc_server):
    ioc = softioc_server
    result = run("info", ioc.pv("mbbo"), ioc.pv("ai.PREC"), ioc.pv("str"), server=ioc)
    types = [line.split(":", 1)[1].strip() for line in result.stdout.splitlines()
             if "Native data type" in line]
    assert types == ["DBF_ENUM", "DBF_SHORT", "DBF_STRING"]


def test_info_not_found(softioc_server):
    ioc = softioc_server
    result = run("info", "-w", "0.3", "no:such:pv", ioc.pv("ai"), server=ioc)
    assert result.returncode == 1
    assert result.stderr == "Channel connect timed out: 'no:such:pv' not found.\n"
    assert result.stdout.splitlines()[0] == ioc.pv("ai")
