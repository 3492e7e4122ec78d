// rp_filter on a decapsulating interface (seed 004: IPIP realservers behind
// IPVS): a client's packet, unwrapped on the tunnel, has a source routed out
// of the uplink, and strict rp_filter drops it — every packet, whatever its
// size, with no ICMP. This kernel has no ipip module; VXLAN decapsulates the
// same way (the inner packet comes out of the vxlan device), so the tunnel
// here is a real VXLAN: the load balancer lb sends the client's packets to
// the realserver rs through it, rs routes the client back through eth0.

import { expect, it } from 'vitest';

import { kernelDescribe, needAddon, needBtf, needCommands } from '../helpers/kernel.js';
import { nstat, useLabs } from '../helpers/labs.js';
import { runLive, verdicts } from '../helpers/live.js';

const CLIENT = '198.18.72.10';
const VIP = '198.18.73.1';

kernelDescribe(
  'rp_filter drops of decapsulated packets',
  () => {
    const labs = useLabs();

    it('strict rp_filter on the realserver\'s tunnel: silent-blackhole (rp_filter) at rs/vx0 for the ping and the TCP flow, with the sysctl that fixes it', async () => {
      const lab = await labs.create('decap');
      const lb = await lab.addNs('lb', { forward: true });
      const rs = await lab.addNs('rs');
      await lab.veth(lb, 'eth0', rs, 'eth0');
      await lab.addr(lb, 'eth0', '198.18.70.1/24');
      await lab.addr(rs, 'eth0', '198.18.70.2/24');
      for (const [ns, local, remote, inner] of [
        [lb, '198.18.70.1', '198.18.70.2', '198.18.71.1/24'],
        [rs, '198.18.70.2', '198.18.70.1', '198.18.71.2/24'],
      ] as const) {
        await lab.ip(ns, ['link', 'add', 'vx0', 'type', 'vxlan', 'id', '7', 'local', local, 'remote', remote, 'dstport', '4789', 'dev', 'eth0']);
        await lab.addr(ns, 'vx0', inner);
        await lab.linkSet(ns, 'vx0', { up: true });
      }
      // The client's address lives beyond lb; lb sends its packets to the VIP through the tunnel.
      await lab.addr(lb, 'lo', `${CLIENT}/32`);
      // lb asks for the realserver's MAC from its tunnel address: an ARP request from the client's address would fail rs's rp_filter itself.
      await lab.sysctl(lb, 'net.ipv4.conf.vx0.arp_announce', 2);
      await lab.route(lb, ['add', `${VIP}/32`, 'via', '198.18.71.2', 'dev', 'vx0']);
      // The realserver holds the VIP and routes clients back out of its uplink, as realservers do.
      await lab.addr(rs, 'lo', `${VIP}/32`);
      await lab.route(rs, ['add', '198.18.72.0/24', 'via', '198.18.70.1', 'dev', 'eth0']);
      await lab.sysctls(rs, { 'net.ipv4.conf.all.rp_filter': 1, 'net.ipv4.conf.vx0.rp_filter': 1 });

      const run = await runLive(lab, ['--netns', lb, '--netns', rs], { ns: rs, ifname: 'vx0' }, async () => {
        await lab.exec(lb, ['ping', '-c', '2', '-i', '0.2', '-W', '1', '-I', CLIENT, VIP]);
        await lab.exec(lb, ['curl', '-s', '--connect-timeout', '1', '--interface', CLIENT, `http://${VIP}:8080/`]);
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

      // Loose mode on the tunnel lets them in: the ping is answered (through eth0, as routed).
      await lab.sysctl(rs, 'net.ipv4.conf.vx0.rp_filter', 2);
      const ping = await lab.exec(lb, ['ping', '-c', '1', '-W', '1', '-I', CLIENT, VIP]);
      expect(ping.code, ping.stdout).toBe(0);
    });
  },
  { requires: [needBtf, needAddon, needCommands('ping', 'curl', 'nstat')] },
);
