-- Reverts 002 by design without dropping anything: on production these
-- columns belong to the Python service (it created them and reads them), so
-- reverting this service's migration must not take them away. Reverting 001
-- drops the whole table, these columns included.
SELECT 1;
