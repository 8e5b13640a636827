"""Shots: a shot and its file's rows (:mod:`.model`), the shot list kept while running
(:mod:`.store`), per-shot input files (:mod:`.inputs`), running a shot (:mod:`.runner`).
"""
