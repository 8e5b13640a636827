"""``ocd simulate`` and ``ocd plan``: whole nights through the real decision core in virtual
time (:mod:`.night`, :mod:`.virtual_time`), their scenarios, report and plot."""
