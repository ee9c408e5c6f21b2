/**
 * Whether a NATS connection is up right now, from the client's status events: `disconnect`
 * until `reconnect`, and never once closed. The relay reports its state from it while it has
 * nothing to send, so an idle edge with a live connection counts as connected.
 */
import type { NatsConnection } from '@nats-io/transport-node';

export interface LinkState {
  up(): boolean;
  stop(): void;
}

export function trackLink(nc: NatsConnection, onChange: () => void = () => {}): LinkState {
  let up = !nc.isClosed();
  const status = nc.status();
  // The iterator the client returns is a QueuedIterator with stop(); its type says only AsyncIterable.
  const iter = status as unknown as { stop(): void };
  void (async () => {
    for await (const s of status) {
      if (s.type !== 'disconnect' && s.type !== 'reconnect') continue;
      up = s.type === 'reconnect';
      try { onChange(); } catch { /* a listener's surprise must not end the tracking */ }
    }
  })().catch(() => undefined);
  return {
    up: () => up && !nc.isClosed(),
    stop: () => iter.stop(),
  };
}
