// Which interfaces are a guest's port on a hypervisor's bridge: the names
// Proxmox and libvirt give them. Audit (a port with no master) and live (a
// port that just left its bridge) share the rule.

/** Proxmox: tapNiM (VM N, net M), vethNiM (CT N), fwprNpM and fwlnNiM (its firewall bridge); libvirt: vnetN. */
const GUEST_PORT = /^(tap\d+i\d+|veth\d+i\d+|fwpr\d+p\d+|fwln\d+i\d+|vnet\d+)$/;

export function isGuestPort(name: string, kind: string): boolean {
  return (kind === 'tun' || kind === 'veth') && GUEST_PORT.test(name);
}

/** Where Proxmox keeps the bridge a tapNiM or vethNiM port belongs to: the guest's config and its netM line. */
export function guestConfig(name: string): { file: string; net: string } | undefined {
  const m = /^(tap|veth)(\d+)i(\d+)$/.exec(name);
  if (!m) return undefined;
  return { file: m[1] === 'tap' ? `/etc/pve/qemu-server/${m[2]}.conf` : `/etc/pve/lxc/${m[2]}.conf`, net: `net${m[3]}` };
}
