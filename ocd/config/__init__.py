"""Layered, typed configuration.

The standard library's :mod:`configparser` parses; this package adds what OCD needs on top:
the master file is loaded first, then user files, then ``OCD__SECTION__OPTION`` environment
variables, then command line overrides (:mod:`~ocd.config.loader`); every value remembers where
it was set (:class:`Origin`); the master file's comments are the schema (:mod:`~ocd.config.spec`)
and give each option its kind and range (:mod:`~ocd.config.values`), checked here once for
every layer and for ``ocd config send``, so no other module checks an option's range.

Why not a third-party layer: the design card's "configparser-extended" is not in the package
registry, and what OCD needs (origins, environment overrides, typed getters, specs from
comments) is small.
"""

from ocd.config.interpolation import UnsetVariableError
from ocd.config.loader import ENV_PREFIX, ImplicitFile, load_config, parse_override
from ocd.config.model import Config, Origin, literal, shown_value
from ocd.config.runtime import RUNTIME_VARIABLE, runtime_dir
from ocd.config.spec import (
    COMPANION_NAMES,
    MASK,
    MASTER_NAME,
    OptionSpec,
    SpecProblem,
    is_secret,
    master_specs,
    master_text,
    option_lines,
    parse_specs,
)
from ocd.config.static import (
    rehearsal_config,
    sample_night,
    sample_shot_file,
    samples_dir,
    single_host_config,
    static_file,
)
from ocd.config.values import fill_template, parse_time, parse_type

__all__ = [
    "COMPANION_NAMES", "ENV_PREFIX", "MASK", "MASTER_NAME", "RUNTIME_VARIABLE", "Config",
    "ImplicitFile", "OptionSpec", "Origin", "SpecProblem", "UnsetVariableError", "fill_template",
    "is_secret", "literal", "load_config", "master_specs", "master_text", "option_lines",
    "parse_override", "parse_specs", "parse_time", "parse_type", "rehearsal_config",
    "runtime_dir", "sample_night", "sample_shot_file", "samples_dir", "shown_value",
    "single_host_config", "static_file",
]
