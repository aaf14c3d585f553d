;; Spins forever: stopped by the instruction limit, or by the wall clock when that comes first.
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $forever (br $forever))))
