// Who may call a route. Every route declares `config: { access }`; the access-control plugin
// (issue 10) enforces it, and a test fails for any route registered without a rule.
import type { ApiKeyPrincipal, ApiScope } from '../core/api-keys.ts';

/**
 * `public`: anyone (liveness, readiness, the OpenAPI document).
 * A list of scopes: a key holding any of them may call the route; `admin` may call every route.
 * `own_orders`: a `checkout` key is limited to the orders it created (enforced by the handler).
 */
export type AccessRule = 'public' | { scopes: readonly ApiScope[]; own_orders?: boolean };

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: AccessRule;
  }
  interface FastifyRequest {
    /** null in open mode, on public routes, or where the access-control plugin is not installed. */
    api_key?: ApiKeyPrincipal | null;
    /**
     * Asks again whether the request's key still holds (not revoked, its scope still allows the
     * route), for requests that last (event streams). Meaningful where `api_key` is set.
     */
    key_still_valid?: () => Promise<boolean>;
  }
}
