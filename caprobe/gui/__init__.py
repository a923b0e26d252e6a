"""caprobe's PyQt5 desktop probe.

Modules: ``main_window`` (the window: wires the views through signals), ``service`` (the one
PV service every view is a client of: subscriptions and one-shot calls on worker threads,
batched updates), ``probe/`` (one PV: header, details, labels), ``write_panel``, ``pv_entry``,
``history``, ``workers`` (one-shot calls and the jobs the probe runs), ``chart_worker`` (the
chart's and the waveform's adapters on the service), ``theme``/``style``/``display`` (themes,
zoom, alarm colours, value text), ``shortcuts`` (Help > Keyboard shortcuts), ``app``
(QApplication set-up, run, self-test); the strip chart and waveform view live in
``strip_chart``/``waveform``. Nothing here is imported by ``caprobe.ca`` or the CLI.
"""
