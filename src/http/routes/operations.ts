// Liveness, readiness and the OpenAPI document.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { StockholdError } from '../../core/errors.ts';
import { isStorageUnavailable } from '../../store/storage-faults.ts';
import type { AppContext } from '../context.ts';
import { described, errorResponses } from '../schemas.ts';

const Status = Type.Object({ status: Type.String() });
/** The document itself: any OpenAPI 3.1 object (serialised as it is, not by a schema). */
const Document = Type.Object({ openapi: Type.String() }, { additionalProperties: true });

export const operationRoutes: FastifyPluginAsyncTypebox<AppContext> = async (app, { store }) => {
  app.get(
    '/healthz',
    {
      config: { access: 'public' },
      schema: {
        tags: ['operations'],
        summary: 'The process is up',
        response: { 200: described(Status, 'Up: {"status": "ok"}') },
      },
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
        response: { 200: described(Status, 'Ready: {"status": "ready"}'), ...errorResponses('not_ready') },
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

  app.get(
    '/openapi.json',
    {
      config: { access: 'public' },
      schema: {
        tags: ['operations'],
        summary: 'This OpenAPI 3.1 document (the UI at /docs reads it)',
        response: { 200: described(Document, 'The OpenAPI document') },
      },
    },
    async () => app.swagger() as { openapi: string },
  );
};
