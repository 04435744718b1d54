/** The `Product` this subgraph resolves: its stock, plus the fields `@requires` brings along. */
export interface InventoryProduct {
  id: string;
  quantity: number;
  price?: { centAmount: number; currencyCode: string };
  weightGrams?: number;
}
