// rp_filter on a decapsulating interface (seed 004: IPIP realservers behind
// IPVS): a client's packet, unwrapped on the tunnel, has a source routed out
// of the uplink, and strict rp_filter drops it — every packet, whatever its
// size, with no ICMP. This kernel has no ipip module; VXLAN decapsulates the
// same way (the inner packet comes out of the vxlan device), so the tunnel
// here is a real VXLAN: the load balancer lb sends the client's packets to
// the realserver rs through it, rs routes the client back through eth0.

import { expect, it } from 'vitest';

import { encapRealServer } from '../../src/lab/topologies.js';
import { kernelDescribe, needAddon, needBtf, needCommands } from '../helpers/kernel.js';
import { nstat, useLabs } from '../helpers/labs.js';
import { runLive, verdicts } from '../helpers/live.js';


kernelDescribe(
  'rp_filter drops of decapsulated packets',
  () => {
    const labs = useLabs();

    it('strict rp_filter on the realserver\'s tunnel: silent-blackhole (rp_filter) at rs/vx0 for the ping and the TCP flow, with the sysctl that fixes it', async () => {
      const lab = await labs.create('decap');
      const t = await encapRealServer(lab);
      const { c, lb, rs } = t.ns;
      const [CLIENT, VIP] = [t.client.v4, t.vip];
      const run = await runLive(lab, ['--netns', c, '--netns', lb, '--netns', rs], { ns: rs, ifname: 'vx0' }, async () => {
        await lab.exec(c, ['ping', '-c', '2', '-i', '0.2', '-W', '1', VIP]);
        await lab.exec(c, ['curl', '-s', '--connect-timeout', '1', `http://${VIP}:8080/`]);
      });
      expect(run.code).toBe(0);
      expect(await nstat(lab, rs, 'TcpExtIPReversePathFilter')).toBeGreaterThan(0); // the kernel's own count of these drops

      const found = verdicts(run).filter((v) => v.verdict === 'silent-blackhole' && v.cause === 'rp_filter');
      expect(found.map((v) => v.flow.proto).sort(), JSON.stringify(verdicts(run))).toEqual(['icmp', 'tcp']);
      for (const v of found) {
        expect(v.where).toEqual({ netns: rs, iface: 'vx0', hop: null });
        expect(v.flow.src).toBe(CLIENT);
        expect((v.evidence as { what: string }[]).map((e) => e.what).join('\n')).toMatch(new RegExp(`from ${CLIENT.replace(/\./g, '\\.')} that vx0 decapsulated: strict rp_filter`));
        expect(v.fix).toContain(`ip netns exec ${rs} sysctl -w net.ipv4.conf.vx0.rp_filter=2`);
      }
    });
  },
  { requires: [needBtf, needAddon, needCommands('ping', 'curl', 'nstat')] },
);
