// The fix a verdict suggests: a concrete setting or command, with a warning
// where the fix weakens something.

import { inNetns } from '../contract/netns.js';
import { ipv4ConfKey } from '../net/sysctl.js';
import type { VerdictJson } from '../contract/verdict.js';
import { mssFor as mssForFamily } from '../net/encap.js';


function isV6(v: VerdictJson): boolean {
  return v.flow.src.includes(':');
}

/** MSS that fits an MTU. */
function mssFor(v: VerdictJson, mtu: number): number {
  return mssForFamily(mtu, isV6(v) ? 6 : 4);
}

const CLAMP = 'nft add rule inet mangle forward tcp flags syn tcp option maxseg size set rt mtu';

/** A pod's namespace, or Calico's host side of a pod (cali*): where a policy, not an nft rule, is what a user changes. */
function inKubernetes(v: VerdictJson): boolean {
  return (v.where.netns ?? '').startsWith('pod:') || /^cali[0-9a-f]/.test(v.where.iface ?? '');
}

/** Seed 004: what lets PTBs through in a cluster, in the terms its user has. */
const KUBERNETES_PTB_POLICY =
  'In Kubernetes a NetworkPolicy cannot express ICMP (only TCP, UDP and SCTP ports); with Calico, allow PTBs to every endpoint with a GlobalNetworkPolicy: ' +
  `calicoctl apply -f - <<< '{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"allow-pmtud"},"spec":{"order":0,"selector":"all()","types":["Ingress"],` +
  `"ingress":[{"action":"Allow","protocol":"ICMP","icmp":{"type":3,"code":4}},{"action":"Allow","protocol":"ICMPv6","icmp":{"type":2}}]}}'`;

/**
 * `overhead`: the bytes of tunnel headers the verdict's packets carry
 * (causes tunnel-overhead and encap-overhead), 0 when none. `capture`: the
 * verdict's places are capture points (analyze), not namespaces to enter.
 */
export function fixFor(v: VerdictJson, overhead = 0, capture = false): string | null {
  // Before the closure below is made: most verdicts are these, and suggest nothing.
  if (v.verdict === 'ok' || v.verdict === 'ptb-honored') return null;
  const { netns, iface, hop } = v.where;
  const mtu = v.mtu;
  const here = (cmd: string): string => (capture ? cmd : inNetns(netns, cmd));
  switch (v.verdict) {
    case 'ptb-dropped':
      if (v.cause === 'rp_filter') {
        return (
          `Make the path MTU consistent (the link behind ${hop ?? 'the router'} carries ${mtu ?? '?'}), or clamp TCP MSS on that router ` +
          `(${CLAMP}), or let ${netns ?? 'this host'} route ${hop ?? 'the PTB source'} back through ${iface ?? 'the interface it arrives on'}. ` +
          `Last resort: ${here(`sysctl -w ${ipv4ConfKey(iface ?? 'IFACE', 'rp_filter')}=2`)} (loose) — ` +
          'WARNING: loose rp_filter weakens protection against spoofed source addresses.'
        );
      }
      if (v.cause === 'firewall') {
        const rule = isV6(v)
          ? 'nft insert rule inet filter input icmpv6 type packet-too-big accept'
          : 'nft insert rule inet filter input icmp type destination-unreachable icmp code frag-needed accept';
        const k8s = inKubernetes(v) ? ` ${KUBERNETES_PTB_POLICY}` : '';
        return `Let PTBs in: ${here(rule)} (or the iptables equivalent) — dropping them breaks Path MTU Discovery.${k8s}`;
      }
      if (v.cause === 'not-applied') {
        return `Check why ${netns ?? 'the sender'} ignores the PTB (a TCP sequence outside the window, net.ipv4.ip_no_pmtu_disc); meanwhile clamp MSS to ${mtu ? mssFor(v, mtu) : 'the path MTU'} (${CLAMP}).`;
      }
      return `The kernel on ${netns ?? '?'} dropped the PTB (${v.cause}) on ${iface ?? '?'}: fix what drops it, or clamp MSS to ${mtu ? mssFor(v, mtu) : 'the path MTU'} (${CLAMP}).`;
    case 'local-bottleneck':
      if (v.cause === 'tunnel-overhead' && mtu) {
        const bytes = overhead || 50;
        return `${here(`ip link set dev TUNNEL_DEVICE mtu ${mtu - bytes}`)} (the tunnel's MTU plus its ${bytes} bytes must fit the underlay's ${mtu}), and give the pods the same MTU; or raise the underlay's MTU.`;
      }
      return `${here(`ip link set dev ${iface ?? 'IFACE'} mtu ${v.bounds?.smallestLost ?? 'LARGER'}`)} (match the MTU of the bridge / the other end), or lower the senders' MTU to ${mtu ?? '?'}.`;
    case 'silent-blackhole':
      if (v.cause === 'rp_filter') {
        return (
          `${here(`sysctl -w ${ipv4ConfKey(iface ?? 'TUNNEL', 'rp_filter')}=2`)} (loose): the effective mode is the larger of all and ${iface ?? 'the tunnel'}, ` +
          `so 2 there works whatever all is (0 there works only with all=0; pmtu-watch audit reads both). Make it lasting in /etc/sysctl.d/.`
        );
      }
      if (v.where.next) {
        // analyze placed it between two capture points: the hop is somewhere on that stretch.
        const lost = v.bounds?.smallestLost;
        const ok = v.bounds?.largestOk;
        const clamp = ok && ok >= (isV6(v) ? 1280 : 576) ? `to ${mssFor(v, ok)}` : 'to what fits the path MTU';
        return (
          `Between the capture points ${netns ?? '?'} and ${v.where.next.netns} a hop drops packets of ${lost ?? '?'} bytes${ok ? ` (${ok} get through)` : ''} without sending a PTB: ` +
          `find the link on that stretch with the smaller MTU (a router's egress, a bridge port or a veth below its bridge's MTU; tracepath from the ${netns ?? 'sender'} side to the other end), ` +
          'then raise its MTU, or let the router send ICMP "fragmentation needed" / "packet too big" (its firewall\'s output, net.ipv4.icmp_ratelimit); ' +
          `meanwhile clamp MSS ${clamp} (${CLAMP}) or, on the sender, sysctl -w net.ipv4.tcp_mtu_probing=1.`
        );
      }
      if (netns && iface && mtu) {
        return `${netns} drops packets larger than ${mtu} on ${iface} without sending a PTB: let it send ICMP "fragmentation needed" (check its firewall output and net.ipv4.icmp_ratelimit), or clamp MSS to ${mssFor(v, mtu)} there (${CLAMP}).`;
      }
      // probe located it: the last hop the failing size reached (it names no namespace of this host).
      if (hop) {
        return (
          `Packets of ${v.bounds?.smallestLost ?? '?'} bytes towards ${v.flow.dst} reach ${hop} and go no further, with no PTB: ${hop} (onto a smaller link) or the hop after it drops them silently; ` +
          'let it send ICMP "fragmentation needed" / "packet too big" (its firewall, net.ipv4.icmp_ratelimit), ' +
          `or clamp MSS to ${v.bounds?.largestOk ? mssFor(v, v.bounds.largestOk) : 'what got through'} (${CLAMP}); on the sender: sysctl -w net.ipv4.tcp_mtu_probing=1.`
        );
      }
      return (
        `A hop between ${v.flow.src} and ${v.flow.dst} drops packets of ${v.bounds?.smallestLost ?? '?'} bytes without a PTB. ` +
        `On the sender: sysctl -w net.ipv4.tcp_mtu_probing=1, or clamp MSS to ${v.bounds?.largestOk ? mssFor(v, v.bounds.largestOk) : 'what got through'}.`
      );
    case 'ptb-not-honored': {
      if (capture) {
        // Seen from a capture, the sender is on one side of it: the PTB reached the capture point and no further, or was ignored there.
        const mss = mtu ? mssFor(v, mtu) : 'MSS';
        return (
          `On the sender's host, find what eats the PTB${hop ? ` from ${hop}` : ''}: a firewall's input chain (it must accept ICMP ` +
          `${isV6(v) ? 'type packet-too-big' : 'destination-unreachable / frag-needed'}), strict rp_filter when ${hop ?? 'the router'} is routed through another interface ` +
          `(sysctl net.ipv4.conf.all.rp_filter and the interface's; the larger counts), a load balancer in front of it handing ICMP elsewhere. ` +
          `Meanwhile clamp the MSS of SYNs on the path to ${mss} (nft add rule inet mangle forward tcp flags syn tcp option maxseg size set ${mss}) so no PTB is needed.`
        );
      }
      // The sender is beyond reach: make it never need the PTB. Its segment size is
      // the MSS the receivers' SYNs advertise, so clamp those where they enter here.
      const mss = mtu ? mssFor(v, mtu) : 'MSS';
      const clamp = `nft add rule inet mangle forward iifname "${iface ?? 'IFACE'}" tcp flags syn tcp option maxseg size > ${mss} tcp option maxseg size set ${mss}`;
      return (
        `Clamp the MSS of SYNs coming in on ${iface ?? 'the small link'} to ${mss}: ${here(clamp)}; or give the hosts and containers behind ${iface ?? 'it'} ` +
        `an MTU of ${mtu ?? 'the path MTU'} (Docker: dockerd --mtu ${mtu ?? 'MTU'}) so their MSS fits. Upstream, the sender's operator must deliver ICMP to the server that holds the flow.`
      );
    }
    case 'mss-exceeds-path': {
      if (v.cause === 'encap-overhead' && mtu && overhead) {
        const inside = mtu - overhead;
        const clamp = mssFor(v, inside);
        return (
          `Leave room for the tunnel's ${overhead} bytes: clamp the MSS of SYNs and SYN-ACKs of flows through it to ${clamp} ` +
          `(${here(`nft add rule inet mangle forward tcp flags syn tcp option maxseg size set ${clamp}`)}; chain output for the host's own sockets), ` +
          `or give the tunnel's far end MTU ${inside} for these flows (its tunnel device, e.g. ipip0, at mtu ${inside}, or its route back to the clients with advmss ${clamp}); ` +
          `in Kubernetes with Calico, a pod MTU of at most ${inside} (the Installation's spec.calicoNetwork.mtu, or FelixConfiguration's ipipMTU / vxlanMTU) so pods advertise MSS ${clamp}.`
        );
      }
      const cni = inKubernetes(v)
        ? ` A pod's MTU is its CNI's: Calico: kubectl patch installation default --type=merge -p '{"spec":{"calicoNetwork":{"mtu":${mtu ?? 'MTU'}}}}' (pods made after it get it); ` +
          'the clamp is for when the pod MTU cannot change.'
        : '';
      return `Clamp MSS to ${mtu ? mssFor(v, mtu) : 'the path MTU'} where the traffic enters ${iface ?? 'the small link'} (${CLAMP}), or give the inner interfaces an MTU of ${mtu ?? 'the outer path'}.${cni}`;
    }
  }
}
