"""caprobe's PyQt5 desktop probe.

Modules: ``main_window`` (the window), ``probe`` (read panel per PV), ``write_panel``,
``pv_entry``, ``workers`` (every CA call the GUI makes runs there, off the GUI thread),
``display``/``style`` (value text and alarm colours), ``app`` (QApplication set-up, run,
self-test); the strip chart and waveform view live in ``strip_chart``/``waveform``.
Nothing here is imported by ``caprobe.ca`` or the CLI.
"""
