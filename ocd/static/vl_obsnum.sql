-- The observation-number table of the Hobby-Eberly Telescope, as OCD expects it.
--
-- This file is the single source of the MySQL schema: the MySQL container of
-- `ocd docker_mysql up` and of docker/compose.yaml runs it at its first start, the tests run it
-- verbatim, and `ocd obsnum init` runs the identical copy shipped in the package
-- (ocd/static/vl_obsnum.sql; a test checks the two are the same). It creates the table in the
-- current database only when it is missing, so running it twice is harmless.
CREATE TABLE IF NOT EXISTS vl_obsnum (
    id smallint(5) unsigned NOT NULL AUTO_INCREMENT,
    ts timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    obsdate date NOT NULL,
    inst varchar(5) NOT NULL,
    obsnum mediumint(9) NOT NULL,
    PRIMARY KEY (id),
    KEY obsdate (obsdate)
);
