/** Reading Prometheus's text format in tests: fetch a service's /metrics (on its metrics port), then look samples up. */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export class Scrape {
  readonly samples: Sample[];

  constructor(readonly text: string) {
    this.samples = text
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map(parseSample);
  }

  /** Samples named `name` whose labels include `labels`. */
  find(name: string, labels: Record<string, string> = {}): Sample[] {
    return this.samples.filter(
      (sample) =>
        sample.name === name && Object.entries(labels).every(([label, value]) => sample.labels[label] === value),
    );
  }

  /** The sum of those samples' values, such as a histogram's count over all its label values; 0 when none. */
  sum(name: string, labels: Record<string, string> = {}): number {
    return this.find(name, labels).reduce((total, sample) => total + sample.value, 0);
  }

  has(name: string, labels: Record<string, string> = {}): boolean {
    return this.find(name, labels).length > 0;
  }

  /** Every value the label takes across the samples named `name`. */
  labelValues(name: string, label: string): string[] {
    return [...new Set(this.find(name).flatMap((sample) => sample.labels[label] ?? []))].sort();
  }
}

/** GETs a running router's or subgraph's /metrics, served on its metrics port (`metricsUrl`). */
export async function scrape(service: { metricsUrl: string | null }): Promise<Scrape> {
  if (!service.metricsUrl) throw new Error('the service serves no metrics');
  const response = await fetch(service.metricsUrl);
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}: ${await response.text()}`);
  return new Scrape(await response.text());
}

const sampleLine = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)$/;
const labelPair = /(\w+)="((?:[^"\\]|\\.)*)"/g;

function parseSample(line: string): Sample {
  const match = sampleLine.exec(line);
  if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
  const labels: Record<string, string> = {};
  for (const [, label, value] of (match[2] ?? '').matchAll(labelPair))
    labels[label!] = value!.replace(/\\(.)/g, (_, escaped: string) => (escaped === 'n' ? '\n' : escaped));
  return { name: match[1]!, labels, value: Number(match[3]) };
}
