/**
 * `profs api --port N`: the API alone, against a Postgres server (DATABASE_URL) that workers started with
 * `profs worker` share. Stateless: run as many as the load needs behind a load balancer.
 */
import { InputError } from "../../shared/errors.ts";
import { loggerFromEnv, parseServerFlags, shutdownSignal, startServer } from "./server.ts";

export async function run(args: string[]): Promise<void> {
  const flags = parseServerFlags("api", args, "0.0.0.0");
  if (!flags) return;
  if (!Deno.env.get("DATABASE_URL")) {
    throw new InputError(
      "Cannot start the API alone as DATABASE_URL must name the Postgres server its workers share: it is unset " +
        "(use `profs serve` for the embedded service)",
    );
  }
  const logger = loggerFromEnv();
  const service = await startServer(flags, logger);
  console.log(`profs API listening on ${service.url}`);
  const signal = await shutdownSignal();
  logger.info("shutting down", { signal });
  await service.close();
}
