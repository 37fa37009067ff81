// GET /v1/stats: counters no event carries, for the dashboard's refusals-per-second chart. Refused
// checkouts change nothing, so the outbox never hears of them; this process counts their answers.
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';

const CheckoutStats = Type.Object({
  since: Type.String({ format: 'date-time', description: 'when this process started counting' }),
  checkouts_refused: Type.Integer({
    description: 'POST /v1/orders answered 409 (insufficient_stock, limit_exceeded, key in use)',
  }),
  checkouts_shed: Type.Integer({ description: 'POST /v1/orders answered 429 or 503 (rate limit, overload)' }),
});

/**
 * A plugin for buildApp's `plugins`: it runs on the root instance, so its hook sees every route.
 * Counts are per process and start at zero on restart (clients take differences).
 */
export function statsPlugin(now_ms: () => number = Date.now) {
  return async (app: FastifyInstance): Promise<void> => {
    const since = new Date(now_ms()).toISOString();
    let checkouts_refused = 0;
    let checkouts_shed = 0;
    app.addHook('onResponse', async (request, reply) => {
      if (request.method !== 'POST' || request.routeOptions.url !== '/v1/orders') return;
      if (reply.statusCode === 409) checkouts_refused += 1;
      else if (reply.statusCode === 429 || reply.statusCode === 503) checkouts_shed += 1;
    });
    app.get(
      '/v1/stats',
      {
        config: { access: { scopes: ['read'] } },
        schema: {
          tags: ['operations'],
          summary: 'Counters of refused checkouts since this process started (per process)',
          response: { 200: { ...CheckoutStats, description: "This process's counters" } },
        },
      },
      async () => ({ since, checkouts_refused, checkouts_shed }),
    );
  };
}
