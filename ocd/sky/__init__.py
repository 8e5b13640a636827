"""The sky as HET sees it: the telescope's geometry (:mod:`.het`), the built-in scheduler
(:mod:`.scheduler`) and the adapter of the external ``autoschedule_main`` (:mod:`.autoschedule`).
"""
