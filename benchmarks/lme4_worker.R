## One lme4 fit on one case, timed like benchmarks/worker.py:
##   Rscript benchmarks/lme4_worker.R DATA.csv LEVELS.json "FORMULA" REPEATS
## Prints one JSON line: best warm time of REPEATS fits after a warm-up, evaluations, REMLcrit, peak RSS.
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
levels <- fromJSON(args[2])
for (col in names(levels)) d[[col]] <- factor(as.character(d[[col]]), levels = levels[[col]])
form <- as.formula(args[3])
repeats <- as.integer(args[4])
m <- lmer(form, data = d)  # warm-up
times <- numeric(repeats)
for (i in seq_len(repeats)) {
  t0 <- proc.time()[["elapsed"]]
  m <- lmer(form, data = d)
  times[i] <- proc.time()[["elapsed"]] - t0
}
status <- readLines("/proc/self/status")
hwm <- as.numeric(sub("^VmHWM:\\s+(\\d+).*$", "\\1", grep("^VmHWM:", status, value = TRUE))) / 1024
cat(toJSON(list(tool = "lme4", time = min(times), times = times, feval = m@optinfo$feval,
                objective = REMLcrit(m), peak_mb = hwm, n = nrow(d)), auto_unbox = TRUE, digits = NA), "\n")
