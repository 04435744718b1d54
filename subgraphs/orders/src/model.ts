/** A user as this subgraph knows it: the id its orders hang off. */
export interface Customer {
  id: string;
}

/** A product as this subgraph references it; the products subgraph resolves the rest. */
export interface ProductReference {
  id: string;
}
