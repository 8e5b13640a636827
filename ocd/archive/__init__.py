"""The survey's archive: every event of the bus, night after night, in the site's MariaDB."""
