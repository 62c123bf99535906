## Seurat support. SeuratObject is only suggested, so the Seurat methods of the verbs are registered
## when its namespace is loaded (now, or later through a load hook), in an environment of their
## own: the package namespace is locked by then. Dispatch finds them like any other method.

.seuratMethods <- new.env()

.registerSeuratMethods <- function(...) {
    methods::setMethod("runDiffusionST", "Seurat", .runDiffusionSTSeurat, where = .seuratMethods)
    methods::setMethod("runSpaLSTF", "Seurat", .runSpaLSTFSeurat, where = .seuratMethods)
    methods::setMethod("evaluateSpaLSTF", "Seurat", .evaluateSpaLSTFSeurat, where = .seuratMethods)
    invisible(TRUE)
}

## Called from .onLoad().
.onLoadSeurat <- function() {
    if (isNamespaceLoaded("SeuratObject")) {
        .registerSeuratMethods()
    } else {
        setHook(packageEvent("SeuratObject", "onLoad"), .registerSeuratMethods)
    }
}

.isSeurat <- function(x) inherits(x, "Seurat")

## Raw counts of the Seurat assay `assay` (default: the default assay).
.countsSeurat <- function(x, assay, argName = "assay", objName = "x") {
    if (is.null(assay)) assay <- SeuratObject::DefaultAssay(x)
    an <- SeuratObject::Assays(x)
    .assert(checkmate::check_choice(assay, an), argName,
        paste0("an assay of `", objName, "` (", .q(an), ") whose counts slot holds raw counts"))
    m <- SeuratObject::GetAssayData(x, slot = "counts", assay = assay)
    if (nrow(m) == 0L) {
        .abort("The counts slot of assay {.val {assay}} of {.arg {objName}} is empty. Pass
            {.arg {argName}} = an assay with raw counts.")
    }
    .checkCounts(m, paste0("The counts of assay \"", assay, "\" of `", objName, "`"),
        paste0("Pass `", argName, " =` the Seurat assay whose counts slot holds raw counts."))
}

## Coordinates of a Seurat object: `coords` (meta.data columns or a matrix), else
## GetTissueCoordinates() of its images, then the meta.data columns of `.COORD_PAIRS`.
.coordsSeurat <- function(x, coords, verbose, required = TRUE) {
    md <- x[[]]
    if (is.matrix(coords) || is.data.frame(coords)) {
        return(.foundCoords(.withSource(coords, "the `coords` argument"), NULL, verbose, required))
    }
    if (!is.null(coords)) {
        return(.foundCoords(.coordsFromColumns(md, coords, "the meta.data"), NULL, verbose,
            required))
    }
    images <- SeuratObject::Images(x)
    tissue <- do.call(rbind, lapply(images, function(img) {
        tc <- tryCatch(SeuratObject::GetTissueCoordinates(x, image = img), error = function(e) NULL)
        tc <- tc[, vapply(tc, is.numeric, TRUE), drop = FALSE]
        if (ncol(tc) >= 2L) as.matrix(tc[, seq_len(2L), drop = FALSE])
    }))
    found <- if (!is.null(tissue) && all(colnames(x) %in% rownames(tissue))) {
        .withSource(tissue[colnames(x), , drop = FALSE], "GetTissueCoordinates()")
    } else {
        .coordsFromColumns(md, NULL, "the meta.data")
    }
    tried <- c(if (length(images)) "GetTissueCoordinates() (images do not cover every cell)" else
        "GetTissueCoordinates() (the object has no images)", "meta.data columns")
    .foundCoords(found, tried, verbose, required)
}

## Where a run of `method` stores its results in a Seurat object, checked before any work: the
## assay `name` and, `withReduction`, the DimReduc `tolower(name)` and the meta.data column
## "<name>_domain". The keys are `name` without "." and "_", then "_" (lower-cased for the
## assay). `name` must be a name Seurat keeps as it is; results may replace only those of an
## earlier run of the method (`Misc(x, name)` says so), never the user's data, and their keys must
## be free.
.seuratResultSlots <- function(x, name, method, withReduction) {
    name <- .checkString(name, "name")
    if (!grepl("^[A-Za-z][A-Za-z0-9._]*$", name) || !identical(make.names(name), name)) {
        .abort("{.arg name} = {.val {name}} would be renamed by Seurat; use a letter followed by
            letters, digits, \".\" or \"_\" (and not an R reserved word).")
    }
    stem <- gsub("[^A-Za-z0-9]", "", name)
    slots <- list(assay = name, assayKey = paste0(tolower(stem), "_"))
    if (withReduction) {
        if (tolower(name) == name) {
            .abort("{.arg name} = {.val {name}} would give the assay ({.arg name}) and the reduction
                ({.code tolower(name)}) of the results the same name; use a name with an
                upper-case letter, such as {.val {toupper(name)}}.")
        }
        slots <- c(slots, list(reduction = tolower(name), reductionKey = paste0(stem, "_"),
            column = paste0(name, "_domain")))
    }
    if (identical(SeuratObject::Misc(x, name)$method, method)) return(slots)
    taken <- intersect(c(slots$assay, slots$reduction), names(x))
    taken <- c(vapply(taken, function(n) paste0("the ", class(x[[n]])[1], " \"", n, "\""), ""),
        if (!is.null(slots$column) && slots$column %in% colnames(x[[]]))
            paste0("the meta.data column \"", slots$column, "\""))
    if (length(taken)) {
        .abort("{.arg name} = {.val {name}} would overwrite {paste(taken, collapse = ' and ')} of
            {.arg x}, which Misc(x, \"{name}\") does not record as {method} results (merge() drops
            that record); remove them or pass another {.arg name}.")
    }
    keys <- SeuratObject::Key(x)
    usedKey <- intersect(c(slots$assayKey, slots$reductionKey), keys)
    if (length(usedKey)) {
        .abort("{.arg name} = {.val {name}} would give the results the key {.val {usedKey[1]}},
            which {.val {names(keys)[match(usedKey[1], keys)]}} of {.arg x} uses; pass another
            {.arg name}.")
    }
    slots
}

## A Seurat assay holding `values` (features x cells) in its data slot, with the key that
## `.seuratResultSlots()` checked (Seurat would otherwise derive one from the assay's name).
.resultAssay <- function(values, slots) {
    assay <- suppressWarnings(SeuratObject::CreateAssayObject(data = values))
    SeuratObject::Key(assay) <- slots$assayKey
    assay
}
