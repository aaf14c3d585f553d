;; Declares 4000 pages (250 MiB) of initial memory: more than the default 128 MB limit.
(module
  (memory (export "memory") 4000)
  (func (export "_start")))
