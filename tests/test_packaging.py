"""Packaging: icon, desktop entry, AppStream metadata, the PyInstaller spec and the scripts.

The fast tests need no build. The bundle tests freeze caprobe with packaging/build.sh and run the
result against the soft IOC; they take ~20 s (one-folder) or ~60 s (everything) and run only
when asked:

    CAPROBE_TEST_BUNDLE=1         (default) build the one-folder bundle, run --self-test / get /
                                  info from it; CAPROBE_TEST_BUNDLE=0 skips the bundle tests
    CAPROBE_TEST_BUNDLE=full      also the single file and the .deb
    CAPROBE_TEST_BUNDLE=prebuilt  test whatever packaging/build.sh left in dist/ (no build)
    CAPROBE_TEST_BUNDLE=fresh     only the fresh-clone test: git clone of this repository's
                                  committed HEAD, `bash packaging/build.sh` there with no .venv
                                  (it runs .ci/setup.sh: downloads, ~10 min), then the single
                                  file's --self-test and get against the soft IOC
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

import caprobe
from caprobe import resources
from caprobe.ca.repeater import repeater_port_free

ROOT = Path(__file__).resolve().parent.parent
RESOURCES = ROOT / "resources"
PACKAGING = ROOT / "packaging"
DESKTOP_FILE = RESOURCES / "caprobe.desktop"
METAINFO_FILE = RESOURCES / "io.github.caprobe.caprobe.metainfo.xml"
SPEC_FILE = PACKAGING / "caprobe.spec"
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256)



def load_packaging_module(name: str) -> ModuleType:
    """Import packaging/<name>.py (packaging/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"packaging_{name}", PACKAGING / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_bundle = load_packaging_module("check_bundle")


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def pyproject_version() -> str:
    """[project] version (a regex: tomllib is Python 3.11+, caprobe supports 3.10)."""
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'^\[project\]$.*?^version\s*=\s*"([^"]+)"', text, re.M | re.S)
    assert match is not None, "no [project] version in pyproject.toml"
    return match.group(1)


def spec_namespace() -> dict:
    """The spec's constants and keep_in_bundle(), without running PyInstaller."""
    tree = ast.parse(SPEC_FILE.read_text())
    namespace: dict = {"Path": Path}
    for node in tree.body:
        if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            for target in node.targets:
                namespace[target.id] = value
        elif isinstance(node, ast.FunctionDef) and node.name == "keep_in_bundle":
            exec(compile(ast.Module([node], type_ignores=[]), str(SPEC_FILE), "exec"), namespace)
    return namespace


# ---- icon ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ICON_SIZES)
def test_rendered_pngs_have_their_size(size: int) -> None:
    assert png_size(RESOURCES / "icons" / f"caprobe-{size}.png") == (size, size)


def test_runtime_icons_are_copies_of_the_rendered_ones() -> None:
    """caprobe/resources/ is what the window shows; it must not drift from resources/."""
    for size in ICON_SIZES:
        rendered = RESOURCES / "icons" / f"caprobe-{size}.png"
        assert (resources.resource_dir() / rendered.name).read_bytes() == rendered.read_bytes()
    assert resources.svg_icon_path().read_bytes() == (RESOURCES / "caprobe.svg").read_bytes()


@pytest.mark.parametrize("name", ["caprobe.svg", "caprobe-small.svg"])
def test_svg_icons_are_square_svg_documents(name: str) -> None:
    root = ET.parse(RESOURCES / name).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    _, _, width, height = (float(v) for v in root.attrib["viewBox"].split())
    assert width == height


def test_resources_module_finds_every_icon() -> None:
    assert resources.resource_dir() == ROOT / "caprobe" / "resources"
    assert [png_size(p)[0] for p in resources.icon_paths()] == list(ICON_SIZES)
    assert resources.icon_path(20).name == "caprobe-22.png"
    assert resources.icon_path(512).name == "caprobe-256.png"


def test_resources_module_is_the_module_not_the_data_directory() -> None:
    """caprobe/resources/ must stay a plain data directory (no __init__.py) or it shadows us."""
    assert Path(resources.__file__).name == "resources.py"
    assert not (ROOT / "caprobe" / "resources" / "__init__.py").exists()


def test_app_icon_has_every_size(qapp) -> None:
    icon = resources.app_icon()
    assert not icon.isNull()
    assert sorted(s.width() for s in icon.availableSizes()) == list(ICON_SIZES)


# ---- desktop entry and AppStream ---------------------------------------------------------------


def test_desktop_entry_validates() -> None:
    if shutil.which("desktop-file-validate") is None:
        pytest.skip("desktop-file-validate not installed (apt: desktop-file-utils)")
    result = subprocess.run(["desktop-file-validate", str(DESKTOP_FILE)],
                            capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_desktop_entry_names_the_program_and_icon() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(DESKTOP_FILE)
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Exec"] == "caprobe"  # PV names are not files or URLs: no %F/%U
    assert entry["Icon"] == resources.ICON_NAME
    assert entry["StartupWMClass"] == "caprobe"
    assert "Science" in entry["Categories"].split(";")
    assert DESKTOP_FILE.stem == resources.DESKTOP_FILE_NAME  # setDesktopFileName matches


def test_metainfo_validates() -> None:
    if shutil.which("appstreamcli") is None:
        pytest.skip("appstreamcli not installed (apt: appstream)")
    result = subprocess.run(["appstreamcli", "validate", "--no-net", "--pedantic",
                             str(METAINFO_FILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_metainfo_matches_desktop_entry_and_version() -> None:
    root = ET.parse(METAINFO_FILE).getroot()
    assert root.findtext("launchable") == DESKTOP_FILE.name
    assert root.findtext("provides/binary") == "caprobe"
    versions = [r.attrib["version"] for r in root.iter("release")]
    assert pyproject_version() in versions, "add a <release> for the pyproject version"
    assert caprobe.__version__ == pyproject_version()


# ---- PyInstaller spec ----------------------------------------------------------------------------


@pytest.mark.parametrize("module", [
    "PyQt6", "PySide2", "PySide6", "tkinter", "matplotlib", "pytest", "caproto", "epics",
    "softioc", "IPython", "pyqtgraph.opengl", "OpenGL", "PyQt5.QtNetwork", "PyQt5.QtQml",
    "PyQt5.QtQuick", "PyQt5.QtWebEngineWidgets", "PyQt5.QtMultimedia", "PyQt5.QtBluetooth",
    "PyQt5.QtSql", "PyQt5.QtDesigner", "PyQt5.QtWebSockets", "PyQt5.QtTest",
])
def test_spec_excludes(module: str) -> None:
    assert module in spec_namespace()["EXCLUDED_MODULES"]


@pytest.mark.parametrize("module", ["colorama", "numpy", "PyQt5.QtSvg", "PyQt5.uic", "caprobe"])
def test_spec_keeps_what_pyqtgraph_and_caprobe_import(module: str) -> None:
    excluded = spec_namespace()["EXCLUDED_MODULES"]
    assert not any(module == e or module.startswith(e + ".") for e in excluded)


@pytest.mark.parametrize(("dest", "kept"), [
    ("PyQt5/Qt5/plugins/platforms/libqxcb.so", True),
    ("PyQt5/Qt5/plugins/platforms/libqoffscreen.so", True),
    ("PyQt5/Qt5/plugins/platforms/libqminimal.so", True),
    ("PyQt5/Qt5/plugins/platforms/libqwayland-egl.so", False),
    ("PyQt5/Qt5/plugins/platforms/libqeglfs.so", False),
    ("PyQt5/Qt5/plugins/platforms/libqwebgl.so", False),
    ("PyQt5/Qt5/plugins/wayland-shell-integration/libxdg-shell.so", False),
    ("PyQt5/Qt5/plugins/xcbglintegrations/libqxcb-glx-integration.so", True),
    ("PyQt5/Qt5/plugins/imageformats/libqjpeg.so", True),
    ("PyQt5/Qt5/plugins/imageformats/libqpdf.so", False),
    ("PyQt5/Qt5/translations/qtbase_de.qm", False),
    ("PyQt5/Qt5/qml/QtQuick/Controls/qmldir", False),
    ("PyQt5/Qt5/lib/libQt5Quick.so.5", False),
    ("libQt5Quick.so.5", False),
    ("PyQt5/Qt5/lib/libQt5WaylandClient.so.5", False),
    ("PyQt5/Qt5/lib/libQt5Widgets.so.5", True),
    ("PyQt5/Qt5/lib/libQt5XcbQpa.so.5", True),
    ("PyQt5/Qt5/lib/libQt5Svg.so.5", True),
    ("libxcb-icccm.so.4", True),
    ("colorama/__init__.pyc", True),
    ("caprobe/resources/caprobe-16.png", True),
])
def test_spec_filters_qt_files(dest: str, kept: bool) -> None:
    assert spec_namespace()["keep_in_bundle"](dest) is kept


def test_spec_bundles_icons_and_pins_the_qt_binding() -> None:
    text = SPEC_FILE.read_text()
    assert '"caprobe" / "resources"' in text
    hook = (PACKAGING / "pyi_rth_caprobe.py").read_text()
    assert 'os.environ.setdefault("PYQTGRAPH_QT_LIB", "PyQt5")' in hook


# ---- entry script, scripts ---------------------------------------------------------------------


def run_entry(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(PACKAGING / "entry.py"), *args],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_entry_runs_caprobe_main() -> None:
    result = run_entry("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"caprobe {caprobe.__version__}"


def test_entry_runs_only_caprobe_modules_with_dash_m() -> None:
    result = run_entry("-m", "http.server")
    assert result.returncode != 0
    assert result.stderr.strip() == "caprobe: -m only runs caprobe's own modules, not 'http.server'"


@pytest.mark.parametrize("script", ["build.sh", "install-desktop.sh", "render-icons.sh",
                                    "man-pages.sh"])
def test_shell_scripts_parse(script: str) -> None:
    result = subprocess.run(["bash", "-n", str(PACKAGING / script)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr


def test_build_script_rejects_unknown_options() -> None:
    result = subprocess.run(["bash", str(PACKAGING / "build.sh"), "--bogus"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "unknown option '--bogus'" in result.stderr


# ---- build environment: build.sh refuses one it cannot freeze ---------------------------------


def make_venv(where: Path, *, hide: tuple[str, ...] = (), share_packages: bool = True) -> Path:
    """A virtual environment without pip (fast). With ``share_packages`` it sees this test
    run's site-packages (a .pth file), minus the top-level packages in ``hide``, which import
    as missing (None in sys.modules, set by a .pth line at start-up)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True,
                   timeout=120)
    python = where / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; "
                                "print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    lines = []
    if share_packages:
        import sysconfig

        lines.append(sysconfig.get_paths()["purelib"])
    lines += [f"import sys; sys.modules[{name!r}] = None" for name in hide]
    (site / "zz_caprobe_test.pth").write_text("\n".join(lines) + "\n")
    return python


def run_build(python: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": str(python)}
    env.pop("PYTHONPATH", None)
    return subprocess.run(["bash", str(PACKAGING / "build.sh"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_check_env_accepts_this_environment() -> None:
    result = subprocess.run([sys.executable, str(PACKAGING / "check_env.py")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("PyQt5", "pyqtgraph", "numpy", "PyInstaller"):
        assert name in result.stdout


def test_build_stops_in_one_line_when_pyqt5_is_missing(tmp_path: Path) -> None:
    """Everything but PyQt5 importable: build.sh names PyQt5, exits 1, builds nothing."""
    python = make_venv(tmp_path / "venv", hide=("PyQt5",))
    before = sorted((ROOT / "dist").iterdir()) if (ROOT / "dist").is_dir() else []
    result = run_build(python, "--dir-only")
    assert result.returncode == 1
    error_lines = result.stderr.strip().splitlines()
    assert len(error_lines) == 1, result.stderr
    assert error_lines[0].startswith("build.sh: error: ")
    assert "PyQt5 (runtime: not installed)" in error_lines[0]
    assert "pyqtgraph" not in error_lines[0] and "numpy" not in error_lines[0]
    assert "done" not in result.stdout
    after = sorted((ROOT / "dist").iterdir()) if (ROOT / "dist").is_dir() else []
    assert after == before


def test_build_names_everything_an_empty_environment_lacks(tmp_path: Path) -> None:
    python = make_venv(tmp_path / "venv", share_packages=False)
    result = run_build(python, "--dir-only")
    assert result.returncode == 1
    line = result.stderr.strip()
    assert "\n" not in line
    for name in ("PyQt5", "pyqtgraph", "numpy", "PyInstaller"):
        assert name in line


def test_build_refuses_a_missing_interpreter() -> None:
    result = run_build("/nonexistent/python3", "--dir-only")
    assert result.returncode == 1
    assert result.stderr.strip() == "build.sh: error: PYTHON=/nonexistent/python3: no such " \
        "interpreter"


# ---- smoke test (what build.sh runs on each artefact), on stand-ins -----------------------------


def stand_in(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def run_smoke_test(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(PACKAGING / "smoke_test.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_smoke_test_fails_a_program_whose_check_fails(tmp_path: Path) -> None:
    good = stand_in(tmp_path / "good", 'echo "caprobe --check: ok: stand-in"')
    bad = stand_in(tmp_path / "bad", 'echo "caprobe --check: No module named PyQt5" >&2; exit 1')
    result = run_smoke_test("--no-ioc", str(good), str(bad))
    assert result.returncode == 1
    assert f"ok    {good} --check" in result.stdout
    assert f"FAIL  {bad} --check: exit 1: caprobe --check: No module named PyQt5" in result.stdout


def test_smoke_test_runs_self_test_and_get_against_a_soft_ioc(tmp_path: Path) -> None:
    """The source caprobe behind a wrapper script: the IOC half of the smoke test, no freezing."""
    program = stand_in(tmp_path / "caprobe",
                       f'PYTHONPATH="{ROOT}" exec "{sys.executable}" -m caprobe "$@"')
    result = run_smoke_test(str(program))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["ok", "ok", "ok"], result.stdout
    assert "--self-test" in lines[1] and lines[1].endswith(":ai 1.500 mm")
    assert " get " in lines[2]


def test_smoke_test_fails_a_wrong_value(tmp_path: Path) -> None:
    program = stand_in(tmp_path / "caprobe",
                       'case "$1" in --check) echo ok;; *) echo "$2 9.999";; esac')
    result = run_smoke_test(str(program))
    assert result.returncode == 1
    assert "FAIL" in result.stdout and "--self-test" in result.stdout


# ---- caprobe --check from source -----------------------------------------------------------------


def test_check_passes_here() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "caprobe", "--check"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("caprobe --check: ok: ")
    assert "main window drawn" in result.stdout and "offscreen runs" in result.stdout
    if importlib.util.find_spec("p4p") is not None:  # the pva extra: a loopback PVA read too
        assert "(PV Access: loopback read ok)" in result.stdout
    else:
        assert "no p4p (CA only)" in result.stdout
    assert result.stderr == ""


def test_check_names_a_missing_qt_without_a_traceback(tmp_path: Path) -> None:
    python = make_venv(tmp_path / "venv", hide=("PyQt5",))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([str(python), "-m", "caprobe", "--check"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert "No module named 'PyQt5'" in result.stderr or "PyQt5" in result.stderr
    assert all(line.startswith("caprobe --check: ") for line in result.stderr.splitlines())


def test_install_desktop_installs_and_uninstalls(tmp_path: Path) -> None:
    """Into a scratch HOME, with a stand-in program (no build needed)."""
    program = tmp_path / "build" / "caprobe"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\necho stand-in caprobe\n")
    program.chmod(0o755)
    home = tmp_path / "home"
    env = {**os.environ, "HOME": str(home)}
    env.pop("XDG_DATA_HOME", None)
    script = str(PACKAGING / "install-desktop.sh")

    result = subprocess.run(["bash", script, "--binary", str(program)], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    link = home / ".local" / "bin" / "caprobe"
    data = home / ".local" / "share"
    assert subprocess.run([str(link)], capture_output=True, text=True).stdout == \
        "stand-in caprobe\n"
    desktop = (data / "applications" / "caprobe.desktop").read_text()
    assert f"Exec={link}\n" in desktop
    for size in ICON_SIZES:
        assert png_size(data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "caprobe.png") \
            == (size, size)
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / "caprobe.svg").is_file()

    result = subprocess.run(["bash", script, "--uninstall"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert not link.exists() and not link.is_symlink()
    assert not (data / "applications" / "caprobe.desktop").exists()
    assert not (data / "caprobe").exists()
    assert not list((data / "icons").rglob("caprobe.*"))


def test_install_desktop_leaves_a_foreign_program_alone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    foreign = home / ".local" / "bin" / "caprobe"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("#!/bin/sh\n# pip --user console script\n")
    program = tmp_path / "caprobe"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    env = {**os.environ, "HOME": str(home)}
    result = subprocess.run(["bash", str(PACKAGING / "install-desktop.sh"), "--binary",
                             str(program)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "is not ours" in result.stderr
    result = subprocess.run(["bash", str(PACKAGING / "install-desktop.sh"), "--uninstall"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "pip --user console script" in foreign.read_text()


def test_parse_depends() -> None:
    assert check_bundle.parse_depends("libc6 (>= 2.36), libgl1, fonts-a | fonts-b") == {
        "libc6", "libgl1", "fonts-a", "fonts-b"}


# ---- frozen bundle (slow, opt-in) --------------------------------------------------------------

# The frozen build is part of the suite (CI builds it and runs it against a soft IOC); set
# CAPROBE_TEST_BUNDLE=0 to skip it on a machine where a 20 s PyInstaller build is not wanted.
BUNDLE_MODE = os.environ.get("CAPROBE_TEST_BUNDLE", "1")
needs_bundle = pytest.mark.skipif(BUNDLE_MODE not in ("1", "full", "prebuilt"),
                                  reason="CAPROBE_TEST_BUNDLE=0: the PyInstaller bundle is "
                                         "not built")
needs_fresh_clone = pytest.mark.skipif(BUNDLE_MODE != "fresh",
                                       reason="CAPROBE_TEST_BUNDLE=fresh runs the fresh-clone "
                                              "build (minutes, downloads)")
FROZEN_DIR = ROOT / "dist" / "caprobe-dir" / "caprobe"
FROZEN_ONEFILE = ROOT / "dist" / "caprobe"


@pytest.fixture(scope="module")
def built() -> Path:
    """Run packaging/build.sh once for this module (--dir-only unless CAPROBE_TEST_BUNDLE=full;
    not at all for prebuilt)."""
    if BUNDLE_MODE == "prebuilt":
        assert FROZEN_DIR.is_file(), "no dist/caprobe-dir: run packaging/build.sh first"
        return ROOT / "dist"
    args = [] if BUNDLE_MODE == "full" else ["--dir-only"]
    # Freeze the environment running the tests (CI: .venv; a worktree may share another).
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(["bash", str(PACKAGING / "build.sh"), *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return ROOT / "dist"


def frozen_programs() -> list[Path]:
    if BUNDLE_MODE == "full" or (BUNDLE_MODE == "prebuilt" and FROZEN_ONEFILE.is_file()):
        return [FROZEN_DIR, FROZEN_ONEFILE]
    return [FROZEN_DIR]


@pytest.mark.slow
@needs_bundle
def test_bundle_leaves_out_unused_qt(built: Path) -> None:
    internal = built / "caprobe-dir" / "_internal"
    platforms = sorted(p.name for p in (internal / "PyQt5/Qt5/plugins/platforms").iterdir())
    assert platforms == ["libqminimal.so", "libqoffscreen.so", "libqxcb.so"]
    names = {p.name for p in internal.rglob("*")}
    for unwanted in ("libQt5Quick.so.5", "libQt5Qml.so.5", "libQt5WaylandClient.so.5",
                     "libQt5WebSockets.so.5", "libQt5Network.so.5", "QtNetwork.abi3.so",
                     "QtTest.abi3.so"):
        assert unwanted not in names
    assert not (internal / "PyQt5/Qt5/translations").exists()
    assert not (internal / "PyQt5/Qt5/qml").exists()
    assert not (internal / "caproto").exists() and not (internal / "matplotlib").exists()
    # the xcb helpers PyInstaller must copy from the build machine (issue 7)
    assert {"libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-xinerama.so.0"} <= names
    assert (internal / "caprobe" / "resources" / "caprobe-256.png").is_file()


@pytest.mark.slow
@needs_bundle
def test_bundle_carries_every_caprobe_module(built: Path) -> None:
    """A module missing from the bundle shows up only when that panel is opened."""
    from PyInstaller.archive.readers import CArchiveReader

    archive = CArchiveReader(str(FROZEN_DIR)).open_embedded_archive("PYZ.pyz")
    frozen = {name for name in archive.toc if name.split(".")[0] == "caprobe"}
    source = set()
    for path in (ROOT / "caprobe").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        source.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    assert source - frozen == set()


@pytest.mark.slow
@needs_bundle
@pytest.mark.parametrize("which", ["dir", "onefile"])
def test_frozen_self_test_reads_a_pv(built: Path, softioc_server, which: str) -> None:
    program = FROZEN_DIR if which == "dir" else FROZEN_ONEFILE
    if program not in frozen_programs():
        pytest.skip("no single file: it is built only with CAPROBE_TEST_BUNDLE=full")
    env = {**softioc_server.client_environ(), "QT_QPA_PLATFORM": "offscreen"}
    pv = softioc_server.pv("ai")
    result = subprocess.run([str(program), "--self-test", pv], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == [pv, "1.500"]


@pytest.mark.slow
@needs_bundle
def test_bundle_trimming_left_every_needed_library(built: Path) -> None:
    assert check_bundle.unresolved_sonames(built / "caprobe-dir") == {}


@pytest.mark.slow
@needs_bundle
def test_frozen_self_test_under_x(built: Path, softioc_server) -> None:
    """With a DISPLAY the self-test goes through the xcb platform plugin and its libraries."""
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run not installed (apt: xvfb)")
    env = softioc_server.client_environ()
    env.pop("QT_QPA_PLATFORM", None)
    pv = softioc_server.pv("ai")
    result = subprocess.run(["xvfb-run", "--auto-servernum", str(FROZEN_DIR), "--self-test", pv],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == [pv, "1.500"]


@pytest.mark.slow
@needs_bundle
def test_frozen_self_test_fails_clearly(built: Path, softioc_server) -> None:
    env = {**softioc_server.client_environ(), "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([str(FROZEN_DIR), "--self-test", softioc_server.pv("no_such_pv"),
                             "--timeout", "1"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@needs_bundle
@pytest.mark.parametrize("tool", ["get", "info"])
def test_frozen_cli_tools(built: Path, softioc_server, tool: str) -> None:
    pv = softioc_server.pv("ai")
    result = subprocess.run([str(FROZEN_DIR), tool, pv], env=softioc_server.client_environ(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert pv in result.stdout


@pytest.mark.slow
@needs_bundle
def test_frozen_program_runs_through_a_symlink(built: Path, tmp_path: Path) -> None:
    """/usr/bin/caprobe and ~/.local/bin/caprobe are symlinks to the bundle's program."""
    link = tmp_path / "caprobe"
    link.symlink_to(FROZEN_DIR)
    result = subprocess.run([str(link), "--version"], capture_output=True, text=True,
                            timeout=120)
    assert result.stdout.strip() == f"caprobe {caprobe.__version__}", result.stderr


MAN_PAGES = ("caprobe", "caprobe-get", "caprobe-put", "caprobe-monitor", "caprobe-info",
             "caprobe-snapshot", "caprobe-repeater")


@pytest.mark.skipif(importlib.util.find_spec("sphinx") is None or shutil.which("man") is None,
                    reason="needs the docs extra (Sphinx) and man-db")
def test_man_pages_staged_for_the_deb_render(tmp_path: Path) -> None:
    """packaging/man-pages.sh (what build.sh runs into the .deb's root) installs a gzipped man
    page per tool that ``man -l`` renders."""
    env = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(["bash", str(PACKAGING / "man-pages.sh"), str(tmp_path)], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    man1 = tmp_path / "usr" / "share" / "man" / "man1"
    assert sorted(p.name for p in man1.iterdir()) == sorted(f"{t}.1.gz" for t in MAN_PAGES)
    for tool in MAN_PAGES:
        page = man1 / f"{tool}.1.gz"
        assert page.stat().st_mode & 0o777 == 0o644
        shown = subprocess.run(["man", "-l", str(page)], capture_output=True, text=True,
                               timeout=60, env={"MANPAGER": "cat", "PAGER": "cat",
                                                "MANWIDTH": "100", "LANG": "C.UTF-8",
                                                "PATH": "/usr/bin:/bin"})
        assert shown.returncode == 0 and not shown.stderr, shown.stderr
        assert tool in shown.stdout.splitlines()[0].lower()
        assert "EXAMPLES" in shown.stdout


def test_man_pages_script_names_missing_sphinx(tmp_path: Path) -> None:
    result = subprocess.run(["bash", str(PACKAGING / "man-pages.sh"), str(tmp_path)], cwd=ROOT,
                            env={**os.environ, "PYTHON": "/usr/bin/false"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().endswith("install the docs extra: pip install -e '.[docs]'")
    assert not (tmp_path / "usr").exists()


@pytest.mark.slow
@needs_bundle
def test_deb_layout(built: Path) -> None:
    deb = built / f"caprobe_{pyproject_version()}_amd64.deb"
    if BUNDLE_MODE == "1" or not deb.is_file():
        pytest.skip("no .deb: it is built only with CAPROBE_TEST_BUNDLE=full")
    listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True,
                             text=True, check=True).stdout
    assert "root/root" in listing and "./opt/caprobe/caprobe" in listing
    assert "./usr/bin/caprobe -> /opt/caprobe/caprobe" in listing
    for path in ("./usr/share/applications/caprobe.desktop",
                 "./usr/share/icons/hicolor/16x16/apps/caprobe.png",
                 "./usr/share/icons/hicolor/256x256/apps/caprobe.png",
                 "./usr/share/icons/hicolor/scalable/apps/caprobe.svg",
                 f"./usr/share/metainfo/{METAINFO_FILE.name}",
                 "./usr/share/doc/caprobe/copyright",
                 *(f"./usr/share/man/man1/{tool}.1.gz" for tool in MAN_PAGES)):
        assert path in listing
    depends = subprocess.run(["dpkg-deb", "--field", str(deb), "Depends"], capture_output=True,
                             text=True, check=True).stdout
    for package in ("libgl1", "libegl1", "libxkbcommon-x11-0", "fonts-dejavu-core"):
        assert package in depends


@pytest.mark.slow
@needs_bundle
def test_single_file_repeater_is_small(built: Path) -> None:
    """The repeater a single file spawns runs without numpy and Qt from the single file's own
    unpacked directory (not a second ~130 MB copy) and survives that directory's deletion."""
    if FROZEN_ONEFILE not in frozen_programs():
        pytest.skip("no single file: it is built only with CAPROBE_TEST_BUNDLE=full")
    measure = load_packaging_module("measure_repeater").measure(str(FROZEN_ONEFILE))
    assert measure["processes"] == 1
    assert measure["answers"], "the repeater does not confirm a registration"
    assert measure["unpacked_dirs"] == 0  # not a second unpacked copy
    assert measure["held_mib"] < 20, measure  # libpython and a few modules (87 MiB before)
    assert measure["rss_mib"] < 25, measure  # 39 MiB with numpy and QtCore


@pytest.mark.slow
@needs_fresh_clone
def test_fresh_clone_build_yields_a_working_single_file(tmp_path: Path, softioc_server) -> None:
    """The README's packaging instructions, as a new user runs them: clone, build.sh, nothing
    else (no .venv, no PYTHON)."""
    clone = tmp_path / "caprobe"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=300)
    assert not (clone / ".venv").exists()
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHON", "PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(["bash", "packaging/build.sh"], cwd=clone, env=env,
                            capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "build.sh: done:" in result.stdout
    assert (clone / ".venv" / "bin" / "python").is_file()
    program = clone / "dist" / "caprobe"
    pv = softioc_server.pv("ai")
    run_env = {**softioc_server.client_environ(), "QT_QPA_PLATFORM": "offscreen"}
    self_test = subprocess.run([str(program), "--self-test", pv], env=run_env,
                               capture_output=True, text=True, timeout=120)
    assert self_test.returncode == 0, self_test.stderr
    assert self_test.stdout.split()[:2] == [pv, "1.500"]
    get = subprocess.run([str(program), "get", pv], env=run_env, capture_output=True,
                         text=True, timeout=120)
    assert get.returncode == 0, get.stderr
    assert get.stdout.split() == [pv, "1.5"]
    assert (clone / "dist" / f"caprobe_{pyproject_version()}_amd64.deb").is_file()


@pytest.mark.slow
@needs_bundle
def test_frozen_repeater_loads_neither_numpy_nor_qt(built: Path, free_port: int) -> None:
    """`caprobe repeater` skips caprobe.ca's package (numpy) and PyInstaller's PyQt5 hook
    (QtCore, ICU): it may run for the host's uptime."""
    port = free_port + 1
    process = subprocess.Popen([str(FROZEN_DIR), "repeater", "--quiet", "--port", str(port)])
    try:
        deadline = time.monotonic() + 60
        while repeater_port_free(port) and time.monotonic() < deadline:
            assert process.poll() is None, "the repeater exited"
            time.sleep(0.01)
        assert not repeater_port_free(port)
        maps = Path(f"/proc/{process.pid}/maps").read_text()
        assert "numpy" not in maps and "libQt5Core" not in maps and "libicudata" not in maps
    finally:
        process.kill()
        process.wait()


@pytest.mark.slow
@needs_bundle
def test_build_ships_nothing_when_the_frozen_program_is_broken(tmp_path: Path) -> None:
    """A trimming mistake (pyqtgraph excluded: --self-test still passes, the chart would not
    open) fails the smoke test: exit 1, one error line, nothing in dist/."""
    if BUNDLE_MODE != "full":
        pytest.skip("a second PyInstaller build: only with CAPROBE_TEST_BUNDLE=full")
    clone = tmp_path / "caprobe"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=300)
    spec = clone / "packaging" / "caprobe.spec"
    text = spec.read_text()
    assert '    "pytest", "_pytest",' in text
    spec.write_text(text.replace('    "pytest", "_pytest",', '    "pyqtgraph", "pytest", "_pytest",'))
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(["bash", "packaging/build.sh", "--dir-only"], cwd=clone, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 1
    assert "FAIL" in result.stdout and "No module named 'pyqtgraph'" in result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith(
        "build.sh: error: smoke test failed")
    assert "build.sh: done" not in result.stdout
    assert not (clone / "dist" / "caprobe-dir").exists()
