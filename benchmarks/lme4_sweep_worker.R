## One lme4 fit of the sweep, timed like benchmarks/sweep_worker.py:
##   Rscript benchmarks/lme4_sweep_worker.R DATA.csv LEVELS.json "FORMULA" REPEATS BUDGET
## The process first fits a tiny model (packages loaded, code paths warm), then times the first fit of
## FORMULA and up to REPEATS - 1 more (fewer when they would exceed BUDGET / 2 seconds). Prints one
## JSON line: best time, all times, best CPU time, evaluations, REMLcrit, isSingular, number of
## variance parameters, peak RSS.
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
args <- commandArgs(trailingOnly = TRUE)
d <- if (requireNamespace("data.table", quietly = TRUE)) {
  as.data.frame(data.table::fread(args[1], data.table = FALSE))
} else read.csv(args[1], stringsAsFactors = FALSE)
levels <- fromJSON(args[2])
for (col in names(levels)) d[[col]] <- factor(as.character(d[[col]]), levels = levels[[col]])
form <- as.formula(args[3])
repeats <- as.integer(args[4])
budget <- as.numeric(args[5])
invisible(lmer(Reaction ~ Days + (Days | Subject), sleepstudy))  # warm-up
times <- numeric(0)
cpus <- numeric(0)
spent <- 0
for (i in seq_len(max(1, repeats))) {
  p0 <- proc.time()
  m <- suppressMessages(suppressWarnings(lmer(form, data = d)))
  p1 <- proc.time() - p0
  dt <- p1[["elapsed"]]
  times <- c(times, dt)
  cpus <- c(cpus, p1[["user.self"]] + p1[["sys.self"]])
  spent <- spent + dt
  if (spent > budget / 2) break
}
status <- readLines("/proc/self/status")
hwm <- as.numeric(sub("^VmHWM:\\s+(\\d+).*$", "\\1", grep("^VmHWM:", status, value = TRUE))) / 1024
cat(toJSON(list(tool = "lme4", time = min(times), times = times, cpu = min(cpus), first = times[1],
                feval = m@optinfo$feval, objective = REMLcrit(m), singular = isSingular(m),
                ntheta = length(getME(m, "theta")),
                peak_mb = hwm, n = nrow(d)), auto_unbox = TRUE, digits = NA), "\n")
