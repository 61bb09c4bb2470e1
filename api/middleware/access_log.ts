/**
 * One log line and one metrics observation per request, tagged with the request id and the matched route
 * pattern (not the raw path, so ids do not explode the metric's label set).
 */
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { Logger } from "../../shared/log.ts";
import type { ApiEnv } from "../env.ts";
import type { RequestMetrics } from "../metrics.ts";

export function accessLog(logger: Logger, metrics: RequestMetrics): MiddlewareHandler<ApiEnv> {
  return async function accessLog(c, next) {
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    const matched = routePath(c, -1);
    const route = matched === "/*" || matched === "*" ? "unmatched" : matched;
    metrics.observe(c.req.method, route, c.res.status, seconds);
    const fields = {
      request_id: c.get("requestId"),
      method: c.req.method,
      path: c.req.path,
      route,
      status: c.res.status,
      ms: Math.round(seconds * 10_000) / 10,
      tenant: c.get("principal")?.tenantId,
    };
    if (c.res.status >= 500) logger.warn("request", fields);
    else logger.info("request", fields);
  };
}
