;; Checks the -1 of a refused memory.grow and exits with code 1 (as C's malloc returning NULL
;; followed by exit(1) does): it failed for memory.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (if (i32.eq (memory.grow (i32.const 1000)) (i32.const -1))
      (then (call $proc_exit (i32.const 1))))))
