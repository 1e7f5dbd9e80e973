"""Settings modules: ``base`` (everything, read from the environment), ``production`` (hardens
``base``), ``test`` (the suite's tweaks). ``manage.py`` defaults to ``base``: the embedded default."""
