;; Asks for far more memory than allowed, checks the -1, falls back to what it has, writes
;; its output and exits 0: it coped with the refusal, so the run is a success.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "used the fallback")
  (func (export "_start")
    (if (i32.ne (memory.grow (i32.const 1000)) (i32.const -1))
      (then unreachable))  ;; a 64 MB grow must be refused under a 16 MB limit
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 17))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
