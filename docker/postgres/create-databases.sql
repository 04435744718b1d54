-- Run once by the postgres image, on an empty data volume only.
-- One database per subgraph: each subgraph owns its data.
CREATE DATABASE accounts;
CREATE DATABASE products;
CREATE DATABASE inventory;
CREATE DATABASE reviews;
CREATE DATABASE orders;
