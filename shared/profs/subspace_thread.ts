/**
 * One thread of the CPU backend's pool (cpu_backend.ts): computes `toxicSubspaceCpu` for the layers it is sent,
 * one at a time, so that layers run side by side on several cores.
 */
import type { LayerSubspace, Matrix, SubspaceParams } from "./backend.ts";
import { toxicSubspaceCpu } from "./subspace.ts";

/** Caller → thread, one at a time per thread; the matrices' buffers are transferred. */
export interface SubspaceRequest {
  preferred: Matrix;
  rejected: Matrix;
  params: SubspaceParams;
}

/** Thread → caller; the basis buffer is transferred. `errorName` keeps an InputError an InputError. */
export type SubspaceResponse =
  | { subspace: LayerSubspace }
  | { errorName: string; message: string };

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<SubspaceRequest>) => void) | null;
  postMessage(message: SubspaceResponse, transfer?: Transferable[]): void;
};

scope.onmessage = ({ data: { preferred, rejected, params } }) => {
  try {
    const subspace = toxicSubspaceCpu(preferred, rejected, params);
    scope.postMessage({ subspace }, [subspace.basis.data.buffer as ArrayBuffer]);
  } catch (error) {
    const { name, message } = error instanceof Error ? error : new Error(String(error));
    scope.postMessage({ errorName: name, message });
  }
};
