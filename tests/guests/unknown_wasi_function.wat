;; Imports a function that is not part of WASI preview 1.
(module
  (import "wasi_snapshot_preview1" "sock_connect_anywhere" (func $connect (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (drop (call $connect))))
