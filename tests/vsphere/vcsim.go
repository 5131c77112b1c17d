// A vCenter simulator on loopback for kprov's vsphere tests, built from Debian's govmomi
// (golang-github-vmware-govmomi-dev) in GOPATH mode. Prints the SDK URL, serves until SIGTERM/SIGINT.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	_ "github.com/vmware/govmomi/lookup/simulator"
	_ "github.com/vmware/govmomi/pbm/simulator"
	"github.com/vmware/govmomi/simulator"
	_ "github.com/vmware/govmomi/sts/simulator"
	_ "github.com/vmware/govmomi/vapi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback only)")
	hosts := flag.Int("hosts", 3, "ESXi hosts in the cluster")
	flag.Parse()

	model := simulator.VPX()
	model.Datacenter = 1
	model.Cluster = 1
	model.ClusterHost = *hosts
	model.Host = 0
	model.Machine = 1
	model.Portgroup = 0 // no distributed port groups: the provider 2.0.2 trips on them
	if err := model.Create(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The vsphere provider panics on a NIC without ResourceAllocation, and cannot find a disk without a UUID.
	for i, ref := range simulator.Map.All("VirtualMachine") {
		vm := ref.(*simulator.VirtualMachine)
		for _, dev := range vm.Config.Hardware.Device {
			if disk, ok := dev.(*types.VirtualDisk); ok {
				if backing, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok && backing.Uuid == "" {
					backing.Uuid = fmt.Sprintf("6000C290-0000-0000-0000-%012d", i*100+int(disk.Key))
				}
			}
			if nic, ok := dev.(types.BaseVirtualEthernetCard); ok {
				card := nic.GetVirtualEthernetCard()
				if card.ResourceAllocation == nil {
					card.ResourceAllocation = &types.VirtualEthernetCardResourceAllocation{
						Share: types.SharesInfo{Level: types.SharesLevelNormal},
					}
				}
			}
		}
	}
	model.Service.RegisterEndpoints = true
	model.Service.TLS = new(tls.Config)
	model.Service.Listen = &url.URL{Host: *listen}
	server := model.Service.NewServer()
	fmt.Println(server.URL.String())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	server.Close()
	model.Remove()
}
