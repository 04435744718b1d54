-- Run once by the postgres image, on an empty data volume only.
-- One database per subgraph: each subgraph owns its data.
-- generated:subgraphs:databases, from subgraphs/registry.ts (npm run registry-files)
CREATE DATABASE accounts;
CREATE DATABASE products;
CREATE DATABASE inventory;
CREATE DATABASE reviews;
CREATE DATABASE orders;
-- end generated:subgraphs:databases
