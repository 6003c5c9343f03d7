"""Many orders fast, in the shapes event_paid.lua writes: for page-cost tests and the benchmark only."""

from __future__ import annotations

import redis


def fill_orders(client: redis.Redis, total: int, already: int) -> None:
    """Orders of the same shape event_paid.lua writes, filled fast by a bench-only script."""
    script = client.register_script("""
      local start, n, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
      for i = start, start + n - 1 do
        local id = string.format('ord_bench%09d', i)
        local member = string.format('%015d|%s', now + i, id)
        local status = (i % 10 == 0) and 'shipped' or 'paid'
        redis.call('HSET', '{shop}:order:' .. id, 'id', id, 'status', status, 'currency', 'eur',
          'items', '[{"sku":"balm-tee/M","chapter":"chapter-i","name":"Balm Tee","size":"M","quantity":1,"unit_amount":4500,"stock_tracked":true}]',
          'amount_total', 4500, 'created_at', now + i, 'updated_at', now + i, 'flags', '[]', 'oversold', '[]',
          'event_ids', '[]', 'history', '[]', 'customer', '{"email":"a@example.com","name":"A"}')
        redis.call('ZADD', '{shop}:orders', 0, member)
        redis.call('ZADD', '{shop}:orders:status:' .. status, 0, member)
      end
      return n
    """)
    now = 1_700_000_000_000
    for start in range(already, total, 20_000):
        script(keys=["{shop}:orders"], args=[start, min(20_000, total - start), now])
