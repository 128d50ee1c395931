## Shared by the fixture scripts (sourced by each tests/r/make_*.R): full-precision JSON numbers
## and read_dataset().

## JSON writer: jsonlite::write_json(..., digits = NA, auto_unbox = TRUE,
## pretty = TRUE, null = "null", na = "null").
## NOTE: jsonlite (1.8.4) never prints more than 15 significant digits, even
## with digits = NA or digits = I(17) (toJSON(0.1 + 0.2, digits = NA) gives
## 0.3), which does not round-trip doubles. So every double is first rendered
## here with sprintf("%.17g") (integer-valued doubles below 1e15 with "%.15g",
## which is exact), NA/NaN/Inf as null, and inserted verbatim
## (json_verbatim = TRUE). Python's float() then recovers the exact double.
fmt_num <- function(x) {
  out <- sprintf("%.17g", x)
  int_like <- is.finite(x) & x == round(x) & abs(x) < 1e15
  out[int_like] <- sprintf("%.15g", x[int_like])
  out[!is.finite(x)] <- "null"
  out
}
encode_doubles <- function(x) {
  if (is.list(x) && !is.data.frame(x)) {
    y <- lapply(x, encode_doubles)
    names(y) <- names(x)
    return(y)
  }
  if (is.double(x)) {
    s <- fmt_num(as.vector(unclass(x)))
    boxed <- inherits(x, "AsIs") || length(x) != 1L   # same rule as auto_unbox
    txt <- if (boxed) paste0("[", paste(s, collapse = ", "), "]") else s
    return(structure(txt, class = "json"))
  }
  x
}
## Always-an-array vector (protects length-1 vectors from auto_unbox).
arr <- function(x) {
  if (is.null(x)) return(I(character(0)))
  x <- as.vector(unname(x))
  if (is.factor(x)) x <- as.character(x)
  I(x)
}


## The bundled data sets as the Python side loads them: the CSV under mixedmodels/datasets/data with its
## factor columns rebuilt in the level order recorded in levels.json (written by make_fixtures.R).
read_dataset <- function(nm, data_dir = file.path("mixedmodels", "datasets", "data")) {
  lv <- jsonlite::read_json(file.path(data_dir, "levels.json"), simplifyVector = TRUE)[[nm]]
  path <- file.path(data_dir, paste0(nm, ".csv"))
  header <- names(utils::read.csv(path, nrows = 1L, check.names = FALSE))
  cc <- ifelse(header %in% names(lv), "character", NA_character_)
  df <- utils::read.csv(path, colClasses = cc, check.names = FALSE, stringsAsFactors = FALSE)
  for (col in names(lv)) df[[col]] <- factor(as.character(df[[col]]), levels = lv[[col]])
  df
}

## The fixture file: every double at full precision (encode_doubles), NULL/NA as null.
write_fixture <- function(x, path) {
  jsonlite::write_json(encode_doubles(x), path, digits = NA, auto_unbox = TRUE, pretty = TRUE,
                       null = "null", na = "null", json_verbatim = TRUE)
}

## A merMod's conditional modes and their conditional SDs, per grouping factor (the GLMM scripts).
ranef_list <- function(m) {
  re <- ranef(m, condVar = TRUE)
  out <- list()
  for (gname in names(re)) {
    d <- re[[gname]]
    pv <- attr(d, "postVar")
    one <- function(a) matrix(sqrt(as.vector(apply(a, 3, diag))), ncol = dim(a)[1], byrow = TRUE)
    sds <- if (is.list(pv)) do.call(cbind, lapply(pv, one)) else one(pv)
    out[[gname]] <- list(levels = arr(rownames(d)), columns = arr(colnames(d)),
                         values = lapply(seq_len(ncol(d)), function(j) arr(d[[j]])),
                         condsd = lapply(seq_len(ncol(d)), function(j) arr(as.matrix(sds)[, j])))
  }
  out
}
