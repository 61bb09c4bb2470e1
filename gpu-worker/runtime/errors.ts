/**
 * Errors raised by the WebGPU runtime. A `KernelError` names the kernel (or runtime step) that failed and carries
 * the WebGPU error message plus the context the caller gave (shapes, constants), so a failing dispatch in a
 * long pipeline is diagnosable from one line.
 */
export class KernelError extends Error {
  override name = "KernelError";
  constructor(
    readonly kernel: string,
    message: string,
    readonly context: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(`${kernel}: ${message}${formatContext(context)}`, options);
  }
}

/** The device is gone (driver reset, `destroy()`, out of memory at the driver level); nothing on it survives. */
export class DeviceLostError extends KernelError {
  override name = "DeviceLostError";
  constructor(kernel: string, readonly reason: string, detail: string) {
    super(
      kernel,
      `Cannot run as the WebGPU device was lost (reason: ${reason || "unknown"}; ${
        detail || "no detail"
      }): acquire a new device`,
    );
  }
}

function formatContext(context: Record<string, unknown>): string {
  const entries = Object.entries(context);
  if (entries.length === 0) return "";
  return " [" + entries.map(([key, value]) => `${key}=${JSON.stringify(value)}`).join(" ") + "]";
}
