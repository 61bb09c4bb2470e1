/**
 * Prometheus text exposition (version 0.0.4) for `/metrics`: request counters and latency histograms kept in
 * this process, plus job gauges and job-duration histograms read from the database at scrape time (jobs are
 * shared by every API process, so counting them here per process would be wrong).
 */

/** Upper bounds of the request-latency buckets, seconds. */
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Upper bounds of the job-duration buckets, seconds: an edit of a small model takes seconds, a 7B one hours. */
export const JOB_DURATION_BUCKETS = [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600];

export interface JobMetrics {
  /** number of jobs per (kind, status), all tenants */
  byState: { kind: string; status: string; count: number }[];
  /** finished jobs' durations (first claim → finish), per kind and terminal status, as cumulative buckets */
  durations: {
    kind: string;
    status: string;
    /** count of durations ≤ each of JOB_DURATION_BUCKETS, same order */
    buckets: number[];
    count: number;
    sum: number;
  }[];
}

interface Histogram {
  buckets: number[];
  count: number;
  sum: number;
}

export interface RequestMetrics {
  observe(method: string, route: string, status: number, seconds: number): void;
  render(): string;
}

/**
 * The methods that get their own label; any other (a client may send any token) counts as `OTHER`, so no
 * request can add a series. Routes are bounded the same way by their caller: the matched route's pattern, or
 * `unmatched`, never the request's path.
 */
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : "OTHER";
}

export function createRequestMetrics(): RequestMetrics {
  const counts = new Map<string, number>();
  const latencies = new Map<string, Histogram>();
  return {
    observe(rawMethod, route, status, seconds) {
      const method = methodLabel(rawMethod);
      const key = labels({ method, route, status: String(status) });
      counts.set(key, (counts.get(key) ?? 0) + 1);
      const hKey = labels({ method, route });
      let h = latencies.get(hKey);
      if (!h) latencies.set(hKey, h = { buckets: REQUEST_BUCKETS.map(() => 0), count: 0, sum: 0 });
      for (let i = 0; i < REQUEST_BUCKETS.length; i++) if (seconds <= REQUEST_BUCKETS[i]) h.buckets[i]++;
      h.count++;
      h.sum += seconds;
    },
    render() {
      const lines = [
        "# HELP profs_http_requests_total HTTP requests handled by this process.",
        "# TYPE profs_http_requests_total counter",
        ...[...counts].map(([key, n]) => `profs_http_requests_total{${key}} ${n}`),
        "# HELP profs_http_request_duration_seconds Time to produce the response headers.",
        "# TYPE profs_http_request_duration_seconds histogram",
      ];
      for (const [key, h] of latencies) {
        lines.push(...histogramLines("profs_http_request_duration_seconds", key, REQUEST_BUCKETS, h));
      }
      return lines.join("\n") + "\n";
    },
  };
}

export function renderJobMetrics(jobs: JobMetrics): string {
  const lines = [
    "# HELP profs_jobs Jobs in each state, all tenants.",
    "# TYPE profs_jobs gauge",
    ...jobs.byState.map((s) => `profs_jobs{${labels({ kind: s.kind, status: s.status })}} ${s.count}`),
    "# HELP profs_job_duration_seconds Finished jobs' time from first claim to finish.",
    "# TYPE profs_job_duration_seconds histogram",
  ];
  for (const d of jobs.durations) {
    lines.push(
      ...histogramLines(
        "profs_job_duration_seconds",
        labels({ kind: d.kind, status: d.status }),
        JOB_DURATION_BUCKETS,
        d,
      ),
    );
  }
  return lines.join("\n") + "\n";
}

function histogramLines(name: string, key: string, bounds: number[], h: Histogram): string[] {
  const prefix = key ? `${key},` : "";
  return [
    ...bounds.map((le, i) => `${name}_bucket{${prefix}le="${le}"} ${h.buckets[i]}`),
    `${name}_bucket{${prefix}le="+Inf"} ${h.count}`,
    `${name}_sum{${key}} ${h.sum}`,
    `${name}_count{${key}} ${h.count}`,
  ];
}

/** `a="x",b="y"` with the exposition format's escapes (backslash, quote, newline). */
function labels(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k}="${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`)
    .join(",");
}
