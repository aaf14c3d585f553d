//go:build wasip1

package outlayer

import "unsafe"

// The host functions of the `outlayer` import module (docs/guest-abi.md). A module imports
// only what it calls: Go links in just the functions a program reaches.

//go:wasmimport outlayer storage_get
func storageGet(key unsafe.Pointer, keyLen uint32, flags uint32) int64

//go:wasmimport outlayer storage_set
func storageSet(key unsafe.Pointer, keyLen uint32, value unsafe.Pointer, valueLen uint32, flags uint32) int64

//go:wasmimport outlayer storage_delete
func storageDelete(key unsafe.Pointer, keyLen uint32, flags uint32) int64

//go:wasmimport outlayer storage_swap
func storageSwap(key unsafe.Pointer, keyLen uint32, expected unsafe.Pointer, expectedLen uint32, value unsafe.Pointer, valueLen uint32, flags uint32) int64

//go:wasmimport outlayer storage_increment
func storageIncrement(key unsafe.Pointer, keyLen uint32, delta int64, flags uint32) int64

//go:wasmimport outlayer storage_list
func storageList(prefix unsafe.Pointer, prefixLen uint32, cursor unsafe.Pointer, cursorLen uint32, flags uint32) int64

//go:wasmimport outlayer random
func random(seed unsafe.Pointer, seedLen uint32) int64

//go:wasmimport outlayer near_view
func nearView(contract unsafe.Pointer, contractLen uint32, method unsafe.Pointer, methodLen uint32, args unsafe.Pointer, argsLen uint32) int64

//go:wasmimport outlayer near_view_account
func nearViewAccount(account unsafe.Pointer, accountLen uint32) int64

//go:wasmimport outlayer near_block
func nearBlock() int64

//go:wasmimport outlayer fetch
func fetch(request unsafe.Pointer, requestLen uint32) int64

//go:wasmimport outlayer refund_usd
func refundUSD(amount int64)

//go:wasmimport outlayer result_read
func resultRead(ptr unsafe.Pointer, capacity uint32) uint32
