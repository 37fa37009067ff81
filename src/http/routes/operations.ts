// Liveness, readiness and the OpenAPI document.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { StockholdError } from '../../core/errors.ts';
import { isStorageUnavailable } from '../../store/storage-faults.ts';
import type { AppContext } from '../context.ts';
import { errorResponses } from '../schemas.ts';

const Status = Type.Object({ status: Type.String() });

export const operationRoutes: FastifyPluginAsyncTypebox<AppContext> = async (app, { store }) => {
  app.get(
    '/healthz',
    {
      config: { access: 'public' },
      schema: { tags: ['operations'], summary: 'The process is up', response: { 200: Status } },
    },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      config: { access: 'public' },
      schema: {
        tags: ['operations'],
        summary: 'The database answers and is migrated',
        response: { 200: Status, ...errorResponses('not_ready') },
      },
    },
    async (request) => {
      try {
        await store.checkReady();
      } catch (error) {
        // An outage is logged once by the store (probes come every few seconds); anything else here.
        if (!isStorageUnavailable(error)) request.log.warn({ err: error }, 'not ready');
        throw new StockholdError('not_ready', 'the database is not reachable, not writable or not migrated');
      }
      return { status: 'ready' };
    },
  );

  app.get('/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () =>
    app.swagger(),
  );
};
