## Exports the R data sets the benchmark sweep uses (committed as benchmarks/data/*.csv.gz):
##   Rscript benchmarks/data/export_r_data.R
## lmerTest's ham (lmerTest 3.1.3) and lme4's VerbAgg (lme4 1.1.31), factor levels in R's order in
## benchmarks/data/levels_r.json.
suppressPackageStartupMessages({ library(lmerTest); library(lme4); library(jsonlite) })
out <- file.path("benchmarks", "data")
ham <- lmerTest::ham
names(ham)[names(ham) == "Informed.liking"] <- "liking"
va <- lme4::VerbAgg
va$y <- as.numeric(va$r2 == "Y")
va <- va[, c("y", "Anger", "Gender", "item", "btype", "situ", "id")]
levs <- list()
for (nm in c("ham", "VerbAgg")) {
  d <- get(if (nm == "ham") "ham" else "va")
  lv <- list()
  for (col in names(d)) if (is.factor(d[[col]])) lv[[col]] <- levels(d[[col]])
  levs[[nm]] <- lv
  con <- gzfile(file.path(out, paste0(nm, ".csv.gz")), "w")
  write.csv(d, con, row.names = FALSE)
  close(con)
}
writeLines(toJSON(levs, auto_unbox = FALSE), file.path(out, "levels_r.json"))
