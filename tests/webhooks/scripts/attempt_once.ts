/** Child process for the --deny-net test: one delivery attempt to Deno.args[0] (loopback allow-listed), as JSON. */
import { attemptDelivery } from "../../../gpu-worker/webhooks/attempt.ts";
import { parseAllowlist } from "../../../shared/webhooks/address_policy.ts";
import { generateSecret } from "../../../shared/webhooks/signature.ts";

const outcome = await attemptDelivery(
  { url: Deno.args[0], secrets: [generateSecret()], messageId: "msg_deny", body: "{}", now: new Date() },
  { allowlist: parseAllowlist("127.0.0.1/32"), timeoutMs: 5_000 },
);
console.log(JSON.stringify(outcome));
