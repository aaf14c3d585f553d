;; Sleeps via WASI poll_oneoff for the number of milliseconds in its first stdin byte x 100
;; (no input: 30 s). A blocked host call that epochs alone cannot interrupt.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (local $ns i64)
    (local.set $ns (i64.const 30000000000))
    ;; read one byte of stdin into 500 (iovec at 400)
    (i32.store (i32.const 400) (i32.const 500))
    (i32.store (i32.const 404) (i32.const 1))
    (drop (call $fd_read (i32.const 0) (i32.const 400) (i32.const 1) (i32.const 408)))
    (if (i32.eq (i32.load (i32.const 408)) (i32.const 1))
      (then (local.set $ns (i64.mul (i64.load8_u (i32.const 500)) (i64.const 100000000)))))
    ;; subscription at 0: userdata 7, tag 0 (clock), clock id 1 (monotonic), relative timeout
    (i64.store (i32.const 0) (i64.const 7))
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (local.get $ns))
    (i64.store (i32.const 32) (i64.const 0))
    (i32.store16 (i32.const 40) (i32.const 0))
    (if (call $poll_oneoff (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128))
      (then unreachable))
    ;; the one event must carry our userdata
    (if (i64.ne (i64.load (i32.const 64)) (i64.const 7)) (then unreachable))))
