/** A product as this subgraph knows it: only its id; the reviews hang off it. */
export interface ReviewedProduct {
  id: string;
}

/** A user as this subgraph knows it: the id, and the username it keeps with each review. */
export interface ReviewAuthor {
  id: string;
  username?: string;
}
