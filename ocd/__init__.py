"""OCD: the HETDEX observation controller of the Hobby-Eberly Telescope."""

__version__ = "0.1.0"
