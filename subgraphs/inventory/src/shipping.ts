/** Orders at or above this price ship free, in minor units. */
export const freeShippingThreshold = 100_00;
const baseRate = 4_99;
const ratePerStartedKilogram = 1_50;

/**
 * Standard shipping for one unit: free above the threshold, otherwise a base
 * rate plus a charge for each kilogram started after the first.
 */
export function estimateShipping(priceCents: number, weightGrams: number): number {
  if (priceCents >= freeShippingThreshold) return 0;
  const extraKilograms = Math.max(0, Math.ceil(weightGrams / 1000) - 1);
  return baseRate + extraKilograms * ratePerStartedKilogram;
}
