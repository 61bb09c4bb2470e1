/** What middleware puts on a request's context for the handlers after it. */
export interface Principal {
  tenantId: string;
  /** the API key's id, for logs */
  keyId: string;
  scopes: readonly string[];
}

export type ApiEnv = {
  Variables: {
    requestId: string;
    principal: Principal;
  };
};
