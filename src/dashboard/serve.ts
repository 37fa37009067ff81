// Serves the built dashboard (dist/dashboard, from `npm run build:dashboard`) at GET / and /assets/*,
// a drop's waiting page at GET /drops/{id}, and their icon at /favicon.ico.
// The pages carry no data (they read the API with the caller's key), so their shells are public.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export const DASHBOARD_DIRECTORY = fileURLToPath(new URL('../../dist/dashboard/', import.meta.url));

const NOT_BUILT_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>stockhold: dashboard not built</title></head>
<body><h1>The dashboard is not built</h1>
<p>Run <code>npm run build:dashboard</code> (or <code>npm install</code>, which runs it) and reload.
The API is up: see <a href="/docs">/docs</a>.</p></body></html>
`;

// The tab icon: the three buckets as bars (available, on hold, sold). Inline, so it needs no build,
// and served at /favicon.ico too, where browsers look for it unasked.
const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">
<rect width="16" height="16" rx="3" fill="#0d1117"/>
<rect x="2" y="3" width="12" height="3" rx="1" fill="#3fb950"/>
<rect x="2" y="7" width="7" height="3" rx="1" fill="#f5a623"/>
<rect x="2" y="11" width="10" height="3" rx="1" fill="#388bfd"/>
</svg>
`;

export function dashboardPlugin(directory: string = DASHBOARD_DIRECTORY) {
  return async (app: FastifyInstance): Promise<void> => {
    await app.register(async (child) => {
      // Only the reply.sendFile decorator: the routes below declare their own access rule.
      await child.register(fastifyStatic, { root: directory, serve: false });
      // Checked per request, so a build made after the server started is picked up.
      const page = (file: string) => async (_request: FastifyRequest, reply: FastifyReply) => {
        if (!existsSync(`${directory}/${file}`)) {
          return reply.code(503).type('text/html; charset=utf-8').send(NOT_BUILT_HTML);
        }
        return reply.header('cache-control', 'no-cache').sendFile(file, { cacheControl: false });
      };
      child.get('/', { config: { access: 'public' }, schema: { hide: true } }, page('index.html'));
      // One page for every drop: it reads the drop's id from its address.
      const drop_page = page('drop.html');
      child.get<{ Params: { id: string } }>(
        '/drops/:id',
        { config: { access: 'public' }, schema: { hide: true } },
        async (request, reply) => {
          if (request.params.id !== '') return drop_page(request, reply);
          // "/drops/" names no drop.
          reply.callNotFound();
          return reply;
        },
      );
      for (const path of ['/favicon.ico', '/favicon.svg'])
        child.get(path, { config: { access: 'public' }, schema: { hide: true } }, async (_request, reply) =>
          reply.type('image/svg+xml').header('cache-control', 'public, max-age=86400').send(FAVICON_SVG),
        );
      child.get<{ Params: { '*': string } }>(
        '/assets/*',
        { config: { access: 'public' }, schema: { hide: true } },
        async (request, reply) =>
          // File names carry a content hash: cache them for good.
          reply.sendFile(request.params['*'], `${directory}/assets`, {
            maxAge: 365 * 24 * 3600 * 1000,
            immutable: true,
          }),
      );
    });
  };
}
