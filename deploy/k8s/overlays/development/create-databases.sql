-- One database per subgraph in subgraphs/registry.ts, as
-- docker/postgres/create-databases.sql (test/kubernetes.test.ts checks both).
-- Run by the postgres image once, on an empty data volume.
-- generated:subgraphs:databases (npm run registry-files)
CREATE DATABASE accounts;
CREATE DATABASE products;
CREATE DATABASE inventory;
CREATE DATABASE reviews;
CREATE DATABASE orders;
-- end generated:subgraphs:databases
