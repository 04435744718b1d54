import { fileURLToPath } from 'node:url';
import { seedProduct } from '../../seed/world.ts';

/** One benchmark workload's operation, as bench/workloads/index.ts defines it. */
export interface WorkloadOperation {
  /** The workload's name, e.g. `shop-product`. */
  name: string;
  /** `bench`: the public benchmark's graph (bench/subgraphs); `shop`: ours, on real Postgres. */
  graph: 'bench' | 'shop';
  /** Sent as a seeded user (the order history is the caller's own). */
  signedIn: boolean;
  query: string;
  variables: Record<string, unknown>;
}

/** The part of bench/workloads/index.ts read here. */
interface WorkloadsModule {
  workloads: Record<
    string,
    {
      graph: 'bench' | 'shop';
      signedIn: boolean;
      operation(ids: { productId: string } | null): { query: string; variables?: Record<string, unknown> };
    }
  >;
}

/**
 * bench/ is a project of its own (its own tsconfig and dependencies, not
 * installed by the root install), so the compiler must not follow an import
 * into it: the module is loaded by a path it does not read. At run time the
 * workloads file needs nothing but node:fs.
 */
const workloadsPath = fileURLToPath(new URL('../../bench/workloads/index.ts', import.meta.url));

/**
 * Every benchmark workload's operation, with the variables the benchmark
 * sends; on the shop graph, ids come from the `small` seed as the benchmark
 * picks them from its seeded databases.
 */
export async function benchWorkloadOperations(): Promise<WorkloadOperation[]> {
  const { workloads } = (await import(workloadsPath)) as WorkloadsModule;
  return Object.entries(workloads).map(([name, workload]) => {
    const { query, variables = {} } = workload.operation(
      workload.graph === 'shop' ? { productId: seedProduct(0).id } : null,
    );
    return { name, graph: workload.graph, signedIn: workload.signedIn, query, variables };
  });
}
