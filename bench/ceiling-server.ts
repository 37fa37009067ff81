// The no-op ceiling: fastify answering POST /v1/orders with an order-shaped body, GET /v1/skus/{sku}
// with a SKU-shaped body of the bench's hot SKU's size, and GET /healthz, without any database or
// decision. What the HTTP stack alone costs on this machine, measured beside stockhold.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
let next_id = 0;

app.get('/healthz', async () => ({ status: 'ok' }));
// The same fields and digits as stockhold's answer for the bench's hot SKU (1,000,000,000 units).
app.get('/v1/skus/:sku', async (request) => {
  const { sku } = request.params as { sku: string };
  return {
    sku,
    name: sku,
    available: 1_000_000_000,
    on_hold: 0,
    sold: 0,
    max_per_customer: null,
    updated_at: new Date().toISOString(),
  };
});
app.post('/v1/orders', async (request, reply) => {
  const body = request.body as { customer_id: string; lines: { sku: string; quantity: number }[] };
  const now_ms = Date.now();
  next_id += 1;
  return reply.code(201).send({
    id: `order-${next_id}`,
    customer_id: body.customer_id,
    status: 'pending_payment',
    lines: body.lines,
    created_at: new Date(now_ms).toISOString(),
    expires_at: new Date(now_ms + 900_000).toISOString(),
  });
});

await app.listen({ port: Number(process.env.PORT ?? 0), host: process.env.HOST ?? '127.0.0.1' });
const stop = () => void app.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
